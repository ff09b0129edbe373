using System.CommandLine;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Trellis.Cli;

/// <summary><c>trellis grpc list|health</c>: what a process serves over gRPC, read through server reflection, and its
/// grpc.health.v1 status — with no .proto files.</summary>
internal static class GrpcCommand
{
    public static Command Create()
    {
        var url = UrlOption.Create("--grpc-url", "gRPC address of a silo or gateway", "http://127.0.0.1:5081");
        var list = new Command("list", "List the gRPC services and their methods (server reflection)") { url };
        list.SetAction((parse, ct) => RunAsync(parse.GetValue(url)!, ListAsync, ct));
        var service = new Argument<string>("service") { Description = "a service name such as trellis.v1.Nodes; empty for the whole server", DefaultValueFactory = _ => "" };
        var health = new Command("health", "Show the grpc.health.v1 status of the server or of one service") { url, service };
        health.SetAction((parse, ct) => RunAsync(parse.GetValue(url)!, (channel, token) => HealthAsync(channel, parse.GetValue(service)!, token), ct));
        return new Command("grpc", "Inspect the gRPC API of a silo or gateway") { list, health };
    }

    private static async Task<int> RunAsync(Uri url, Func<GrpcChannel, CancellationToken, Task<int>> action, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(url);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await action(channel, timeout.Token);
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"{url}: {e.StatusCode}: {e.Status.Detail}");
            return 1;
        }
    }

    private static async Task<int> ListAsync(GrpcChannel channel, CancellationToken cancellationToken)
    {
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo(cancellationToken: cancellationToken);
        var services = await AskAsync(call, new ServerReflectionRequest { ListServices = "" }, cancellationToken);
        var names = services.ListServicesResponse.Service.Select(static s => s.Name).Order(StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            Console.WriteLine(name);
            var files = await AskAsync(call, new ServerReflectionRequest { FileContainingSymbol = name }, cancellationToken);
            var descriptor = Build(files.FileDescriptorResponse.FileDescriptorProto).SelectMany(static f => f.Services).FirstOrDefault(s => s.FullName == name);
            foreach (var method in descriptor?.Methods ?? [])
            {
                var input = method.IsClientStreaming ? $"stream {method.InputType.FullName}" : method.InputType.FullName;
                var output = method.IsServerStreaming ? $"stream {method.OutputType.FullName}" : method.OutputType.FullName;
                Console.WriteLine($"  {method.Name}({input}) returns ({output})");
            }
        }

        await call.RequestStream.CompleteAsync();
        return 0;
    }

    private static async Task<int> HealthAsync(GrpcChannel channel, string service, CancellationToken cancellationToken)
    {
        var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = service }, cancellationToken: cancellationToken);
        Console.WriteLine($"{(service.Length == 0 ? "(server)" : service)} {reply.Status}");
        return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
    }

    private static async Task<ServerReflectionResponse> AskAsync(
        AsyncDuplexStreamingCall<ServerReflectionRequest, ServerReflectionResponse> call, ServerReflectionRequest request, CancellationToken cancellationToken)
    {
        await call.RequestStream.WriteAsync(request, cancellationToken);
        if (!await call.ResponseStream.MoveNext(cancellationToken))
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the reflection stream ended early"));
        }

        var response = call.ResponseStream.Current;
        return response.MessageResponseCase == ServerReflectionResponse.MessageResponseOneofCase.ErrorResponse
            ? throw new RpcException(new Status((StatusCode)response.ErrorResponse.ErrorCode, response.ErrorResponse.ErrorMessage))
            : response;
    }

    /// <summary>Descriptors built from the files the server sent, each after the files it imports.</summary>
    private static IReadOnlyList<FileDescriptor> Build(IEnumerable<ByteString> files)
    {
        var byName = files.ToDictionary(static b => FileDescriptorProto.Parser.ParseFrom(b).Name);
        var ordered = new List<ByteString>();
        var done = new HashSet<string>();
        void Visit(string name)
        {
            if (byName.TryGetValue(name, out var bytes) && done.Add(name))
            {
                foreach (var dependency in FileDescriptorProto.Parser.ParseFrom(bytes).Dependency)
                {
                    Visit(dependency);
                }

                ordered.Add(bytes);
            }
        }

        foreach (var name in byName.Keys)
        {
            Visit(name);
        }

        return FileDescriptor.BuildFromByteStrings(ordered);
    }
}
