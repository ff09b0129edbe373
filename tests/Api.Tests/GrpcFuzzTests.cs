using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.TestKit;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests;

/// <summary>Random, mutated, truncated, oversized and garbage gRPC frames and wrong content types at the gRPC port, and
/// random JSON at the /v1 routes: never UNKNOWN, INTERNAL or a 5xx from our handlers, and the gateway stays healthy.</summary>
public sealed class GrpcFuzzTests : IAsyncLifetime
{
    private const int GrpcRounds = 700;
    private const int JsonRounds = 500;

    private static readonly string[] Methods =
    [
        "/trellis.v1.Nodes/RegisterNode", "/trellis.v1.Nodes/GetNode", "/trellis.v1.Nodes/DeleteNode", "/trellis.v1.Nodes/AddSlot",
        "/trellis.v1.Nodes/ListSlots", "/trellis.v1.Nodes/RemoveSlots", "/trellis.v1.Nodes/AddService", "/trellis.v1.Nodes/ListServices",
        "/trellis.v1.Nodes/RemoveServices", "/trellis.v1.Nodes/Connect", "/trellis.v1.Messaging/Request", "/trellis.v1.Messaging/Signal",
        "/grpc.health.v1.Health/Check", "/trellis.v1.Nodes/Nope", "/trellis.v9.Gone/Method",
    ];

    private static readonly string[] WrongContentTypes = ["text/plain", "application/json", "", "application/grpc-web", "application/x-protobuf", "grpc"];

    private TestGateway _gateway = null!;
    private HttpClient _raw = null!;
    private Random _random = null!;
    private RegisterNodeResponse _node = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _raw = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = _gateway.GrpcAddress, Timeout = TimeSpan.FromSeconds(30) };
        _node = await _gateway.Grpc.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = HealthTests.FreePort() }, As(null));
        var seed = Environment.TickCount;
        TestContext.Current.SendDiagnosticMessage($"gRPC fuzz seed {seed}");
        _random = new Random(seed);
    }

    public async ValueTask DisposeAsync()
    {
        _raw.Dispose();
        await _gateway.DisposeAsync();
    }

    private IMessage[] Valid => [
        new RegisterNodeRequest { Port = HealthTests.FreePort(), Services = { new Subscription { Topic = "fz.a", Group = "g", Path = "/a", Timeout = 1 } }, Slots = { new Subscription { Topic = "fz.*", Path = "/s" } } },
        new NodeRef { Id = _node.Id },
        new AddSubscriptionRequest { Id = _node.Id, Topic = "fz.b", Group = "g", Path = "/b", Timeout = 2 },
        new RemoveSubscriptionsRequest { Id = _node.Id, Topic = "fz.b", Path = "/b" },
        new PublishRequest { Id = _node.Id, Topic = "fz.a", Message = Json("""{"k": [1, 2, {"z": null}]}"""), Timeout = 0.5 },
        new PublishRequest { Id = _node.Id, Composition = Json("""{"pipe": [{"topic": "fz.a"}, {"batch": [{"topic": "fz.b"}], "record": true}]}""") },
        new SignalRequest { Id = _node.Id, Topic = "fz.sig", Message = Json("[1, \"two\"]") },
        new NodeMessage { Register = new RegisterNodeRequest { Services = { new Subscription { Topic = "fz.s", Group = "g" } } } },
        new NodeMessage { Attach = new NodeRef { Id = _node.Id } },
        new NodeMessage { Reply = new Reply { CorrelationId = "1", Code = 200 } },
    ];

    [Fact]
    public async Task Garbage_grpc_frames_never_get_unknown_internal_or_a_5xx()
    {
        var valid = Valid;
        for (var round = 0; round < GrpcRounds; round++)
        {
            var path = Methods[_random.Next(Methods.Length)];
            var (body, what) = Body(valid[_random.Next(valid.Length)].ToByteArray());
            var wrongType = _random.Next(10) == 0;
            var contentType = wrongType ? WrongContentTypes[_random.Next(WrongContentTypes.Length)] : _random.Next(4) == 0 ? "application/grpc+proto" : "application/grpc";
            using var request = new HttpRequestMessage(HttpMethod.Post, path)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent(body),
            };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            request.Headers.TryAddWithoutValidation("TE", "trailers");
            request.Headers.TryAddWithoutValidation("grpc-timeout", "5S");
            if (_random.Next(2) == 0)
            {
                request.Headers.TryAddWithoutValidation("authorization", "Bearer " + (_random.Next(3) == 0 ? TestGateway.AdminToken : _node.Token));
            }

            if (_random.Next(8) == 0)
            {
                request.Headers.TryAddWithoutValidation("grpc-encoding", _random.Next(2) == 0 ? "gzip" : "br");
            }

            using var response = await _raw.SendAsync(request, TestContext.Current.CancellationToken);
            var payload = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            var context = $"round {round}: {what} ({body.Length} bytes, content type '{contentType}') to {path}";
            if (wrongType)
            {
                Assert.True((int)response.StatusCode == 415, $"{context}: expected 415, got {(int)response.StatusCode}");
                continue;
            }

            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{context}: HTTP {(int)response.StatusCode}");
            var status = Status(response);
            Assert.True(status is not null, $"{context}: no grpc-status");
            Assert.True(status is not (2 or 13), $"{context}: grpc-status {status} {Message(response)}");
            Assert.True(payload.Length == 0 || status == 0 || path.EndsWith("/Connect", StringComparison.Ordinal), $"{context}: a body with status {status}");
        }

        await AssertHealthyAsync();
    }

    [Fact]
    public async Task A_malformed_protobuf_payload_is_invalid_argument_naming_the_problem()
    {
        byte[] garbage = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f];
        using var request = new HttpRequestMessage(HttpMethod.Post, "/trellis.v1.Nodes/RegisterNode")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(Frame(garbage)),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        using var response = await _raw.SendAsync(request, TestContext.Current.CancellationToken);
        await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.Equal(3, Status(response));
        Assert.Contains("Failed to deserialize the RegisterNodeRequest message", Message(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Random_json_at_the_v1_routes_never_gets_a_5xx()
    {
        var id = _node.Id;
        (HttpMethod Method, string Path)[] routes =
        [
            (HttpMethod.Post, "/v1/nodes"), (HttpMethod.Get, $"/v1/nodes/{id}"), (HttpMethod.Delete, $"/v1/nodes/{id}x"),
            (HttpMethod.Post, $"/v1/nodes/{id}/slots"), (HttpMethod.Get, $"/v1/nodes/{id}/slots"), (HttpMethod.Delete, $"/v1/nodes/{id}/slots?topic=fz.a&path=/p"),
            (HttpMethod.Post, $"/v1/nodes/{id}/services"), (HttpMethod.Get, $"/v1/nodes/{id}/services"), (HttpMethod.Delete, $"/v1/nodes/{id}/services?topic=%00&timeout=x"),
            (HttpMethod.Post, $"/v1/request/{id}"), (HttpMethod.Post, $"/v1/signal/{id}"), (HttpMethod.Post, "/v1/request/zz"),
        ];
        string[] templates =
        [
            $$"""{"port":{{HealthTests.FreePort()}},"health_check":"/health","slots":[{"topic":"f.*","group":"g","path":"/s","timeout":1}],"services":[{"topic":"f.a","group":"g","path":"/a","timeout":2}]}""",
            """{"topic":"f.a","group":"g","path":"/p","timeout":3}""",
            """{"topic":"f.a","message":{"k":[1,2,{"z":null}]},"timeout":0.5}""",
            """{"composition":{"pipe":[{"topic":"f.a"},{"batch":[{"topic":"f.b"}],"record":true}]},"message":{"a":1}}""",
            """{"topic":"f.signal","message":[1,"two",3.0]}""",
        ];
        JsonNode?[] weird = [null, true, 0, -1, 65536, 1.5, 1e308, "", "*", "a.*", "/..", "\u0000", new string('z', 300), new JsonArray(), new JsonObject(), new JsonArray(1, "a", null)];

        for (var round = 0; round < JsonRounds; round++)
        {
            var (method, path) = routes[_random.Next(routes.Length)];
            string body;
            switch (_random.Next(4))
            {
                case 0:
                    var node = JsonNode.Parse(templates[_random.Next(templates.Length)])!.AsObject();
                    var key = node.Select(p => p.Key).ElementAt(_random.Next(node.Count));
                    node[key] = weird[_random.Next(weird.Length)]?.DeepClone();
                    if (_random.Next(3) == 0)
                    {
                        node["unknownField" + _random.Next(3)] = 1;
                    }

                    body = node.ToJsonString();
                    break;
                case 1:
                    var text = templates[_random.Next(templates.Length)];
                    body = text[..(text.Length * _random.Next(100) / 100)];
                    break;
                case 2:
                    body = new string('[', _random.Next(1, 200)) + new string(']', _random.Next(0, 200));
                    break;
                default:
                    var bytes = new byte[_random.Next(0, 64)];
                    _random.NextBytes(bytes);
                    body = Encoding.Latin1.GetString(bytes);
                    break;
            }

            var token = _random.Next(4) == 0 ? null : _random.Next(2) == 0 ? _node.Token : TestGateway.AdminToken;
            var contentType = _random.Next(10) == 0 ? "text/plain" : "application/json";
            var response = await _gateway.SendAsync(method, path, method == HttpMethod.Get ? null : body, token, contentType);
            Assert.True(response.Status < 500, $"round {round}: {method} {path} with {body} answered {response}");
        }

        await AssertHealthyAsync();
    }

    private (byte[] Body, string What) Body(byte[] message)
    {
        switch (_random.Next(9))
        {
            case 0:
                return (Frame(message), "a valid message");
            case 1:
                var flipped = (byte[])message.Clone();
                for (var i = 0; i < 1 + _random.Next(4) && flipped.Length > 0; i++)
                {
                    flipped[_random.Next(flipped.Length)] = (byte)_random.Next(256);
                }

                return (Frame(flipped), "a mutated message");
            case 2:
                var framed = Frame(message);
                return (framed[.._random.Next(framed.Length)], "a truncated frame");
            case 3:
                var random = new byte[_random.Next(0, 300)];
                _random.NextBytes(random);
                return (Frame(random), "a random payload");
            case 4:
                var raw = new byte[_random.Next(0, 40)];
                _random.NextBytes(raw);
                return (raw, "random bytes");
            case 5:
                var header = new byte[5 + _random.Next(0, 20)];
                BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), (uint)_random.Next(5 * 1024 * 1024, int.MaxValue));
                return (header, "an oversized length prefix");
            case 6:
                var flagged = Frame(message);
                flagged[0] = (byte)_random.Next(1, 256);
                return (flagged, "a bad compressed flag");
            case 7:
                return ([.. Frame(message), .. Frame(message)], "two messages");
            default:
                var nested = new byte[_random.Next(100, 2000)];
                for (var i = 0; i < nested.Length; i += 2)
                {
                    nested[i] = 0x1a;
                    if (i + 1 < nested.Length)
                    {
                        nested[i + 1] = (byte)Math.Max(0, nested.Length - i - 2);
                    }
                }

                return (Frame(nested), "deeply nested fields");
        }
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task A_message_flagged_compressed_that_is_not_compressed_is_invalid_argument(string encoding)
    {
        var frame = Frame(new NodeRef { Id = _node.Id }.ToByteArray());
        frame[0] = 1;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/trellis.v1.Nodes/ListServices")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        request.Headers.TryAddWithoutValidation("authorization", "Bearer " + _node.Token);

        using var response = await _raw.SendAsync(request, TestContext.Current.CancellationToken);
        await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(Status(response) == 3, $"grpc-status {Status(response)} {Message(response)}");
        Assert.Contains($"not {encoding} data", Message(response));
        await AssertHealthyAsync();
    }

    private async Task AssertHealthyAsync()
    {
        var healthz = await _gateway.GetAsync("/healthz", token: null);
        Assert.Equal(200, healthz.Status);
        // The fuzzing may have deleted its node: a new one must register and be read back as before.
        var fresh = await _gateway.Grpc.UnaryAsync(RegisterNode, new RegisterNodeRequest { Port = HealthTests.FreePort() }, As(null));
        var node = await _gateway.Grpc.UnaryAsync(GetNode, new NodeRef { Id = fresh.Id }, As(fresh.Token));
        Assert.Equal(fresh.Id, node.Id);
        var health = await _gateway.Grpc.UnaryAsync(GrpcApi.HealthCheck, new global::Grpc.Health.V1.HealthCheckRequest(), As(null));
        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    private static byte[] Frame(byte[] payload)
    {
        var frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static int? Status(HttpResponseMessage response) =>
        response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? int.Parse(t.Single(), System.Globalization.CultureInfo.InvariantCulture)
        : response.Headers.TryGetValues("grpc-status", out var h) ? int.Parse(h.Single(), System.Globalization.CultureInfo.InvariantCulture)
        : null;

    private static string Message(HttpResponseMessage response) =>
        Uri.UnescapeDataString(response.TrailingHeaders.TryGetValues("grpc-message", out var t) ? t.Single()
            : response.Headers.TryGetValues("grpc-message", out var h) ? h.Single() : "");
}
