using Trellis.Api.Hosting;

return await TrellisApp.RunAsync(args, "gateway", "the stateless front door: the proxy HTTP API, gRPC and health for nodes and clients");
