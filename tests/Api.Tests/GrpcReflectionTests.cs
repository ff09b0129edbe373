using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Reflection.V1Alpha;
using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests;

/// <summary>Server reflection: a client with no .proto files lists the services, fetches their descriptors and calls a
/// method by encoding the request from the descriptor alone.</summary>
public sealed class GrpcReflectionTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task A_client_lists_the_services_and_calls_one_from_the_descriptors_it_fetched()
    {
        var client = new ServerReflection.ServerReflectionClient(_gateway.Grpc);
        using var call = client.ServerReflectionInfo(cancellationToken: TestContext.Current.CancellationToken);

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken).Within("the list of services"));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToHashSet();
        foreach (var expected in (string[])["trellis.v1.Nodes", "trellis.v1.Messaging", "trellis.v1.Apps", "grpc.health.v1.Health"])
        {
            Assert.True(services.Contains(expected), $"reflection lists {string.Join(", ", services)}; {expected} is missing");
        }

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "trellis.v1.Nodes" }, TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken).Within("the descriptors of trellis.v1.Nodes"));
        var protos = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto;
        await call.RequestStream.CompleteAsync();

        // Build the descriptors from what the server sent (dependencies first), with no generated code involved.
        var files = FileDescriptor.BuildFromByteStrings(DependenciesFirst(protos));
        var nodes = files.SelectMany(f => f.Services).Single(s => s.FullName == "trellis.v1.Nodes");
        var register = nodes.FindMethodByName("RegisterNode");
        Assert.Equal("trellis.v1.RegisterNodeRequest", register.InputType.FullName);

        // Encode {port: P} from the descriptor's field number and wire type, and read the reply's fields by name.
        var port = register.InputType.FindFieldByName("port");
        var output = new MemoryStream();
        var coded = new CodedOutputStream(output);
        coded.WriteTag(port.FieldNumber, WireFormat.WireType.Varint);
        coded.WriteInt32(HealthTests.FreePort());
        coded.Flush();
        var method = new Method<byte[], byte[]>(MethodType.Unary, nodes.FullName, register.Name, Marshallers.Create(static b => b, static b => b), Marshallers.Create(static b => b, static b => b));
        var reply = await _gateway.Grpc.UnaryAsync(method, output.ToArray(), As(null));

        var fields = new Dictionary<string, string>();
        var input = new CodedInputStream(reply);
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            var field = register.OutputType.FindFieldByNumber(WireFormat.GetTagFieldNumber(tag));
            Assert.True(field is { FieldType: FieldType.String }, $"RegisterNodeResponse field {WireFormat.GetTagFieldNumber(tag)} is not a string field of the descriptor");
            fields[field.Name] = input.ReadString();
        }

        Assert.Matches("^[0-9a-f]{32}$", fields["id"]);
        Assert.False(string.IsNullOrEmpty(fields["token"]), "the registration returned no token");
        var node = await _gateway.Grpc.UnaryAsync(GetNode, new Trellis.Contracts.V1.NodeRef { Id = fields["id"] }, As(fields["token"]));
        Assert.Equal(fields["id"], node.Id);
        Assert.Equal(node.Status, fields["status"]);
    }

    /// <summary>The files in an order where each comes after the files it imports.</summary>
    private static List<ByteString> DependenciesFirst(IEnumerable<ByteString> files)
    {
        var byName = files.ToDictionary(static b => FileDescriptorProto.Parser.ParseFrom(b).Name);
        var ordered = new List<ByteString>();
        var done = new HashSet<string>();
        void Visit(string name)
        {
            if (!byName.TryGetValue(name, out var bytes) || !done.Add(name))
            {
                return;
            }

            foreach (var dependency in FileDescriptorProto.Parser.ParseFrom(bytes).Dependency)
            {
                Visit(dependency);
            }

            ordered.Add(bytes);
        }

        foreach (var name in byName.Keys)
        {
            Visit(name);
        }

        return ordered;
    }
}
