using System.Net.Http.Headers;
using System.Text;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Random and mutated requests to the apps routes never get a 5xx, and the gateway stays healthy.</summary>
public sealed class AppsFuzzTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(role: "silo");

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static readonly string[] Paths =
    [
        "/apps", "/apps/APP", "/apps/APP:poke", "/apps/APP:peek", "/apps/APP:wipe", "/apps/APP:watch?path=/count",
        "/apps/APP:leave", "/apps/APP/kid", "/apps/APP:", "/apps/APP::poke", "/apps/%00", "/apps/APP:watch?path=",
        "/apps/a%2Fb:poke", "/apps/" + new string('a', 300), "/apps/APP:watch?path=/count&path=/x", "/apps//x",
    ];

    private static readonly string[] Methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"];

    private static readonly string[] Seeds =
    [
        "{\"app\":\"APP\",\"agent\":\"counter\",\"init\":{\"count\":1}}",
        "{\"mark\":\"add\",\"data\":{\"by\":1},\"id\":\"x-1\"}",
        "{\"path\":\"/count\"}",
        "{\"subscriber\":\"abc\",\"path\":\"/count\"}",
        "{\"app\":\"APP/kid\",\"agent\":\"parent\"}",
        "{\"mark\":\"spawn\",\"data\":{\"name\":\"kid\",\"agent\":\"counter\"}}",
    ];

    private static readonly string[] Values =
    [
        "null", "true", "1e999", "-1", "\"\"", "[]", "{}", "\"\\u0000\"", "\"" + new string('z', 5000) + "\"", "[[[[[[[[[[]]]]]]]]]]",
        "{\"by\":9223372036854775807}", "\"../..\"", "\"UPPER\"", "\"a/b/c/d/e/f/g/h/i\"", "0.5",
    ];

    [Fact]
    public async Task Random_and_mutated_requests_never_get_a_5xx()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var app = $"f-{Guid.NewGuid():N}"[..16];
        Assert.Equal(201, (await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin)).Status);
        using var http = new HttpClient { BaseAddress = _gateway.Address, Timeout = TimeSpan.FromSeconds(30) };
        for (var i = 0; i < 400; i++)
        {
            var method = Methods[random.Next(Methods.Length)];
            var path = Paths[random.Next(Paths.Length)].Replace("APP", random.Next(4) == 0 ? "nobody" : app, StringComparison.Ordinal);
            var body = random.Next(8) == 0 ? null : Mutate(Seeds[random.Next(Seeds.Length)].Replace("APP", app, StringComparison.Ordinal), random);
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.TryAddWithoutValidation("Content-Type", random.Next(10) == 0 ? "text/plain" : "application/json");
            }

            var token = random.Next(10) switch { 0 => null, 1 => "wrong-token", _ => Admin };
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            // Headers only: a watch that is accepted streams until it is closed.
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
            var status = (int)response.StatusCode;
            Assert.True(status < 500, $"seed {seed}, request {i}: {method} {path} {(body is null ? "" : Encoding.UTF8.GetString(body))} answered {status}");
        }

        Assert.Equal(200, (await _gateway.GetAsync("/healthz", null)).Status);
        var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin);
        Assert.True(poke.Status is 200 or 404, $"after the fuzzing a poke answered {poke.Status}: {poke.Body}");
    }

    private static byte[] Mutate(string seed, Random random)
    {
        switch (random.Next(6))
        {
            case 0:
                return Encoding.UTF8.GetBytes(seed);
            case 1:
                return Encoding.UTF8.GetBytes(seed[..random.Next(seed.Length)]);
            case 2:
                var bytes = Encoding.UTF8.GetBytes(seed);
                for (var n = random.Next(1, 4); n > 0; n--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                return bytes;
            case 3:
                // Replace one value after a colon with another kind of value.
                var colon = seed.IndexOf(':', random.Next(seed.Length));
                if (colon < 0)
                {
                    return Encoding.UTF8.GetBytes(seed);
                }

                var end = seed.IndexOfAny([',', '}'], colon);
                return Encoding.UTF8.GetBytes(string.Concat(seed.AsSpan(0, colon + 1), Values[random.Next(Values.Length)], seed.AsSpan(end < 0 ? seed.Length : end)));
            case 4:
                return Encoding.UTF8.GetBytes(new string('[', random.Next(1, 200)));
            default:
                var noise = new byte[random.Next(0, 64)];
                random.NextBytes(noise);
                return noise;
        }
    }
}
