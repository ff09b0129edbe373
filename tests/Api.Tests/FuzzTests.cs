using System.Text;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Random and mutated bodies at every route: every answer is a 4xx or the route's success, never a 5xx, and the gateway keeps answering.</summary>
public sealed class FuzzTests : IAsyncLifetime
{
    private const int Rounds = 1500;

    private static readonly string[] ContentTypes =
    [
        "application/json", "application/json", "application/json", "application/json; charset=utf-8", "application/problem+json",
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16",
        "", "json", "application/", ";;;", "application/json; charset=\"", "*/*",
    ];

    private static readonly JsonNode?[] Weird =
    [
        null, true, false, 0, -1, 65536, 1.5, 1e308, -1e308, "", " ", "*", "a.*", "/..", "http://x", "\u0000", new string('z', 300),
        new JsonArray(), new JsonObject(), new JsonArray(1, "a", null), new JsonObject { ["x"] = new JsonObject { ["y"] = 1 } },
    ];

    private TestGateway _gateway = null!;
    private RegisteredNode _node = null!;
    private Random _random = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _node = await _gateway.RegisterAsync(new { port = HealthTests.FreePort() });
        var seed = Environment.TickCount;
        TestContext.Current.SendDiagnosticMessage($"fuzz seed {seed}");
        _random = new Random(seed);
    }

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private string[] Templates => [
        $$"""{"port":{{HealthTests.FreePort()}},"health_check":"/health","slots":[{"topic":"f.*","group":"g","path":"/s","timeout":1}],"services":[{"topic":"f.a","group":"g","path":"/a","timeout":2}]}""",
        """{"topic":"f.a","group":"g","path":"/p","timeout":3}""",
        """{"topic":"f.a","message":{"k":[1,2,{"z":null}]},"timeout":0.5}""",
        """{"composition":{"pipe":[{"topic":"f.a","message":{"x":1}},{"batch":[{"topic":"f.b"}],"record":true},{"parallel":[{"topic":"f.c","timeout":1}]}]},"message":{"a":1}}""",
        """{"topic":"f.signal","message":[1,"two",3.0]}""",
    ];

    [Fact]
    public async Task Random_and_mutated_bodies_never_get_a_5xx()
    {
        var id = _node.Id;
        (HttpMethod Method, string Path)[] routes =
        [
            (HttpMethod.Post, "/nodes"),
            (HttpMethod.Get, $"/nodes/{id}"),
            (HttpMethod.Post, $"/nodes/{id}/slots"),
            (HttpMethod.Get, $"/nodes/{id}/slots"),
            (HttpMethod.Delete, $"/nodes/{id}/slots?topic=f.a&path=/p"),
            (HttpMethod.Post, $"/nodes/{id}/services"),
            (HttpMethod.Get, $"/nodes/{id}/services"),
            (HttpMethod.Delete, $"/nodes/{id}/services?topic=f.a"),
            (HttpMethod.Post, $"/request/{id}"),
            (HttpMethod.Post, $"/signal/{id}"),
            (HttpMethod.Put, $"/nodes/{id}"),
            (HttpMethod.Post, $"/nodes/{Guid.NewGuid():N}/slots"),
            (HttpMethod.Post, "/request/%00%ff"),
            (HttpMethod.Delete, $"/nodes/{id}/slots?topic=%00&topic=*"),
        ];

        var statuses = new Dictionary<int, int>();
        for (var round = 0; round < Rounds; round++)
        {
            var (method, path) = routes[_random.Next(routes.Length)];
            var body = Body();
            var contentType = ContentTypes[_random.Next(ContentTypes.Length)];
            var token = _random.Next(6) switch
            {
                0 => null,
                1 => "garbage",
                2 => TestGateway.AdminToken,
                _ => _node.Token,
            };

            var response = await _gateway.SendAsync(method, path, body, token, contentType);
            statuses[response.Status] = statuses.GetValueOrDefault(response.Status) + 1;
            Assert.True(response.Status < 500, $"round {round}: {method} {path} ({contentType}) with {Describe(body)} answered {response}");
            if (response.Status >= 400 && response.Body.Length > 0 && !path.Contains("/request/", StringComparison.Ordinal))
            {
                Assert.NotNull(JsonNode.Parse(response.Body)!["error"]?["message"]);
            }
        }

        TestContext.Current.SendDiagnosticMessage("statuses: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        Assert.True(statuses.Keys.Count(s => s is >= 400 and < 500) >= 5, "the fuzz reached too few kinds of refusal: " + string.Join(",", statuses.Keys));
        var health = await _gateway.GetAsync("/healthz", null);
        Assert.Equal(200, health.Status);
        Assert.Equal(200, (await _gateway.GetAsync($"/nodes/{id}", _node.Token)).Status);
    }

    private string Body()
    {
        var templates = Templates;
        var template = templates[_random.Next(templates.Length)];
        switch (_random.Next(8))
        {
            case 0:
                var bytes = new byte[_random.Next(0, 200)];
                _random.NextBytes(bytes);
                return Encoding.Latin1.GetString(bytes);
            case 1:
                return template[.._random.Next(template.Length)];
            case 2:
                var depth = _random.Next(60, 3000);
                return new string('[', depth) + new string(']', depth);
            case 3:
                return "{\"port\":" + new string('9', _random.Next(20, 400)) + "}";
            case 4:
                var flipped = template.ToCharArray();
                for (var i = 0; i < 3; i++)
                {
                    const string Noise = "{}[]\",:0a\\ \u0001";
                    flipped[_random.Next(flipped.Length)] = Noise[_random.Next(Noise.Length)];
                }

                return new string(flipped);
            default:
                var node = JsonNode.Parse(template)!;
                for (var i = 0; i < _random.Next(1, 4); i++)
                {
                    Mutate(node);
                }

                return node.ToJsonString();
        }
    }

    /// <summary>Replaces a random value somewhere in the document with one of the wrong type or range.</summary>
    private void Mutate(JsonNode node)
    {
        var current = node;
        while (true)
        {
            var children = current switch
            {
                JsonObject o => o.Select(p => (Key: (object)p.Key, Value: p.Value)).ToList(),
                JsonArray a => a.Select((v, i) => (Key: (object)i, Value: v)).ToList(),
                _ => [],
            };
            if (children.Count == 0)
            {
                return;
            }

            var (key, value) = children[_random.Next(children.Count)];
            if (value is JsonObject or JsonArray && _random.Next(3) > 0)
            {
                current = value;
                continue;
            }

            var replacement = Weird[_random.Next(Weird.Length)]?.DeepClone();
            if (current is JsonObject obj)
            {
                if (_random.Next(5) == 0)
                {
                    obj.Remove((string)key);
                }
                else
                {
                    obj[(string)key] = replacement;
                }
            }
            else
            {
                ((JsonArray)current)[(int)key] = replacement;
            }

            return;
        }
    }

    private static string Describe(string body) => body.Length <= 300 ? body : body[..300] + $"… ({body.Length} chars)";
}
