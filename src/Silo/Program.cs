using Trellis.Api.Hosting;

return await TrellisApp.RunAsync(args, "silo", "hosts grains; with no configuration, the all-in-one cluster on the in-process bus");
