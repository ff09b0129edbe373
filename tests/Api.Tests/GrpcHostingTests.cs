using System.Net;
using Trellis.Api.Hosting;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;
using Trellis.Core.Nodes;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests;

/// <summary>The gRPC listener's configuration: HTTP/2 only, switched off by an empty Trellis:Grpc:Url, bad URLs refused.</summary>
public sealed class GrpcHostingTests
{
    [Theory]
    [InlineData("https://127.0.0.1:5081", "Trellis:Grpc:Url must be an http:// URL")]
    [InlineData("not a url", "Trellis:Grpc:Url must be an http:// URL")]
    [InlineData("http://example.com:5081", "Trellis:Grpc:Url must name an IP address, localhost or *")]
    [InlineData("http://127.0.0.1:5081/grpc", "Trellis:Grpc:Url must not have a path")]
    public void A_bad_grpc_url_stops_the_process_naming_the_key(string value, string expected)
    {
        var e = Assert.Throws<TrellisException>(() => TrellisApp.Build([], "gateway", new Dictionary<string, string?>
        {
            ["Trellis:Grpc:Url"] = value,
        }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task An_empty_grpc_url_switches_the_listener_off_and_transcoding_stays()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Grpc:Url"] = "" });
        Assert.Null(gateway.GrpcAddress);
        var registered = await gateway.PostAsync("/v1/nodes", new { port = HealthTests.FreePort() });
        Assert.Equal(200, registered.Status);
    }

    [Fact]
    public async Task The_grpc_port_speaks_http2_only_and_the_http_port_refuses_grpc_over_http1()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var http1 = new HttpClient { BaseAddress = gateway.GrpcAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/healthz") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        try
        {
            // Kestrel answers an HTTP/1.1 request on an HTTP/2-only endpoint with an error, or drops the connection.
            using var refused = await http1.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.False(refused.IsSuccessStatusCode, $"HTTP/1.1 on the gRPC port answered {(int)refused.StatusCode}");
        }
        catch (HttpRequestException)
        {
        }

        var content = new ByteArrayContent([0, 0, 0, 0, 0]);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        using var response = await gateway.Http.PostAsync("/trellis.v1.Nodes/GetNode", content, TestContext.Current.CancellationToken);
        Assert.Equal(426, (int)response.StatusCode);
    }

    [Fact]
    public async Task A_stream_node_comes_back_dirty_after_a_restart_and_attaches_again()
    {
        var folder = Directory.CreateTempSubdirectory("trellis-grpc-restart-");
        try
        {
            var db = Path.Combine(folder.FullName, "trellis.db");
            string id, token;
            await using (var first = await TestGateway.StartAsync(db))
            {
                await using var node = await StreamNode.RegisterAsync(first.Grpc, "before", new RegisterNodeRequest { Services = { new Subscription { Topic = "restart.work", Group = "g" } } });
                (id, token) = (node.Id, node.Token);
            }

            await using var second = await TestGateway.StartAsync(db);
            Assert.Equal(NodeStatus.Dirty, second.Registry.StatusOf(id));
            await using var again = await StreamNode.AttachAsync(second.Grpc, "after", id, token);
            var reply = await second.Grpc.UnaryAsync(Request, new PublishRequest { Id = id, Topic = "restart.work" }, As(token));
            Assert.Equal("after", reply.Messages[0].Data.StructValue.Fields["node"].StringValue);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
