using System.CommandLine;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Trellis.Cli;

/// <summary><c>trellis grpc list|health</c>: what a process serves over gRPC, read through server reflection, and its
/// grpc.health.v1 status — with no .proto files. Exit 0 when served (and serving), 1 when not, 3 when the process cannot
/// be reached.</summary>
internal static class GrpcCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List the gRPC services and their methods (server reflection; --grpc-url)");
        list.SetAction((parse, ct) => RunAsync(parse, ListAsync, ct));
        var service = new Argument<string>("service") { Description = "a service name such as trellis.v1.Nodes; empty for the whole server", DefaultValueFactory = _ => "" };
        var health = new Command("health", "Show the grpc.health.v1 status of the server or of one service (--grpc-url)") { service };
        health.SetAction((parse, ct) => RunAsync(parse, (channel, output, token) => HealthAsync(channel, output, parse.GetValue(service)!, token), ct));
        return new Command("grpc", "Inspect the gRPC API of a silo or gateway") { list, health };
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private static Task<int> RunAsync(ParseResult parse, Func<GrpcChannel, TextWriter, CancellationToken, Task<int>> action, CancellationToken cancellationToken) =>
        ClusterClient.RunAsync(parse, (_, error) => CallAsync(parse, error, ConnectionOptions.ResolveGrpcUrl(parse), action, cancellationToken));

    private static async Task<int> CallAsync(ParseResult parse, TextWriter error, Uri url, Func<GrpcChannel, TextWriter, CancellationToken, Task<int>> action, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(url);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            return await action(channel, parse.InvocationConfiguration.Output, timeout.Token);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            await error.WriteLineAsync($"cannot reach {url}: {e.Status.Detail}");
            return CliApp.Unreachable;
        }
        catch (Exception e) when (e is RpcException { StatusCode: StatusCode.Cancelled or StatusCode.DeadlineExceeded } or OperationCanceledException
            && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync($"{url} did not answer within {Timeout.TotalSeconds}s");
            return CliApp.Unreachable;
        }
        catch (RpcException e)
        {
            await error.WriteLineAsync($"{url}: {e.StatusCode}: {e.Status.Detail}");
            return CliApp.Failed;
        }
    }

    private static async Task<int> ListAsync(GrpcChannel channel, TextWriter output, CancellationToken cancellationToken)
    {
        using var call = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo(cancellationToken: cancellationToken);
        var services = await AskAsync(call, new ServerReflectionRequest { ListServices = "" }, cancellationToken);
        var names = services.ListServicesResponse.Service.Select(static s => s.Name).Order(StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            await output.WriteLineAsync(name);
            var files = await AskAsync(call, new ServerReflectionRequest { FileContainingSymbol = name }, cancellationToken);
            var descriptor = Build(files.FileDescriptorResponse.FileDescriptorProto).SelectMany(static f => f.Services).FirstOrDefault(s => s.FullName == name);
            foreach (var method in descriptor?.Methods ?? [])
            {
                var input = method.IsClientStreaming ? $"stream {method.InputType.FullName}" : method.InputType.FullName;
                var returns = method.IsServerStreaming ? $"stream {method.OutputType.FullName}" : method.OutputType.FullName;
                await output.WriteLineAsync($"  {method.Name}({input}) returns ({returns})");
            }
        }

        // End the call as the protocol does, half-close and read to the server's status: disposing it with the response
        // still open would reset the stream under the server, which reports that as a failed call.
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
        }

        return 0;
    }

    private static async Task<int> HealthAsync(GrpcChannel channel, TextWriter output, string service, CancellationToken cancellationToken)
    {
        var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = service }, cancellationToken: cancellationToken);
        await output.WriteLineAsync($"{(service.Length == 0 ? "(server)" : service)} {reply.Status}");
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
