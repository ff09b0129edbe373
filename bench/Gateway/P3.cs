using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Hosting;

namespace Trellis.Bench.Gateway;

/// <summary>
/// P3: client → gateway → node against client → node directly, HTTP/1.1 on loopback, everything in one process.
/// The node is a minimal Kestrel endpoint that answers the gateway's POST callback with the body it got; the gateway is
/// the real process composition (<see cref="TrellisApp.Build(string[], string, IEnumerable{KeyValuePair{string, string?}}?, Action{WebApplicationBuilder}?)"/>)
/// on the in-process bus. (a) Added p50 latency at a fixed open-loop rate (Dapr's method: 1,000 req/s); (b) throughput at
/// saturation with a fixed number of requests in flight, as the ratio gateway ÷ direct. A naive forwarding proxy (one
/// more Kestrel + HttpClient hop, nothing else) runs beside them as a reference: on a small machine where client,
/// gateway and node share the cores, that hop alone sets the floor of what any gateway can add.
/// Usage: <c>p3 [--p3-rate 1000] [--p3-seconds 5] [--p3-concurrency 32]</c>.
/// </summary>
public static class P3
{
    private const string Topic = "bench.echo";

    public static async Task<int> RunAsync(string[] args)
    {
        var rate = Option(args, "--p3-rate", 1000);
        var seconds = Option(args, "--p3-seconds", 5);
        var concurrency = Option(args, "--p3-concurrency", 32);

        await using var node = await StartNodeAsync();
        await using var gateway = await StartGatewayAsync();
        await using var forwarder = await StartForwarderAsync(new Uri(node.Address, "/echo"), concurrency);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
        })
        { Timeout = TimeSpan.FromSeconds(30) };

        var (nodeId, token) = await RegisterAsync(http, gateway.Address, node.Address);

        // Every path carries the same JSON to the node: the direct call sends the envelope the gateway would deliver.
        var envelope = JsonSerializer.SerializeToUtf8Bytes(new { topic = Topic, sender = "bench", data = new { n = 1, text = "hello trellis" }, timeout = 30 });
        var direct = new Target("direct", new Uri(node.Address, "/echo"), null, envelope);
        var viaGateway = new Target("gateway", new Uri(gateway.Address, $"/request/{nodeId}"), token,
            JsonSerializer.SerializeToUtf8Bytes(new { topic = Topic, message = new { n = 1, text = "hello trellis" }, timeout = 30 }));
        var viaForwarder = new Target("forward", new Uri(forwarder.Address, "/forward"), null, envelope);
        Target[] targets = [direct, viaGateway, viaForwarder];

        // Warm-up: JIT, connection pools, the gateway's client to the node.
        foreach (var target in targets)
        {
            await SaturateAsync(http, target, concurrency, TimeSpan.FromSeconds(1));
        }

        // (a) latency at a fixed rate, rounds interleaved.
        var p50 = targets.ToDictionary(t => t, _ => new List<double>());
        var p99 = targets.ToDictionary(t => t, _ => new List<double>());
        var late = 0.0;
        for (var round = 0; round < Harness.Rounds; round++)
        {
            foreach (var target in targets)
            {
                var (latencies, lag) = await PacedAsync(http, target, rate, TimeSpan.FromSeconds(seconds));
                p50[target].Add(Harness.Percentile(latencies, 0.50));
                p99[target].Add(Harness.Percentile(latencies, 0.99));
                late = Math.Max(late, lag);
            }
        }

        var (d50, g50, f50) = (Harness.Median(p50[direct]), Harness.Median(p50[viaGateway]), Harness.Median(p50[viaForwarder]));
        var (d99, g99, f99) = (Harness.Median(p99[direct]), Harness.Median(p99[viaGateway]), Harness.Median(p99[viaForwarder]));
        Console.WriteLine($"P3 gateway-http at {rate} req/s open-loop ({Harness.Rounds} rounds x {seconds} s per path, medians of rounds; pacer max lag {late:0.0} ms):");
        Console.WriteLine($"P3   direct        p50={d50:0.000} ms p99={d99:0.000} ms");
        Console.WriteLine($"P3   gateway       p50={g50:0.000} ms p99={g99:0.000} ms added p50={g50 - d50:0.000} ms (goal <= 0.25 ms) {(g50 - d50 <= 0.25 ? "MET" : "MISSED")} p99={g99 - d99:0.000} ms; p50 ratio={g50 / d50:0.00}x");
        Console.WriteLine($"P3   naive-forward p50={f50:0.000} ms p99={f99:0.000} ms added p50={f50 - d50:0.000} ms (reference: one more HTTP hop and nothing else)");

        // (b) throughput at saturation, rounds interleaved.
        var rates = targets.ToDictionary(t => t, _ => new List<double>());
        for (var round = 0; round < Harness.Rounds; round++)
        {
            foreach (var target in targets)
            {
                rates[target].Add(await SaturateAsync(http, target, concurrency, TimeSpan.FromSeconds(3)));
            }
        }

        var (dr, gr, fr) = (Harness.Median(rates[direct]), Harness.Median(rates[viaGateway]), Harness.Median(rates[viaForwarder]));
        Console.WriteLine($"P3 gateway-http saturation ({concurrency} in flight): gateway={Harness.Fmt(gr)} req/s direct={Harness.Fmt(dr)} req/s ratio={gr / dr:0.00}x (goal >= 0.6x) {(gr / dr >= 0.6 ? "MET" : "MISSED")}; naive-forward={Harness.Fmt(fr)} req/s ratio={fr / dr:0.00}x; gateway/naive-forward={gr / fr:0.00}x");
        return 0;
    }

    private sealed record Target(string Name, Uri Uri, string? Token, byte[] Body);

    /// <summary>Open loop: request i is due at start + i / rate whatever the earlier ones are doing; latency counts from
    /// the moment it is sent. Returns the latencies (ms) and the pacer's largest lag behind the schedule (ms).</summary>
    private static async Task<(List<double> Latencies, double MaxLagMs)> PacedAsync(HttpClient http, Target target, int rate, TimeSpan duration)
    {
        var total = (int)(rate * duration.TotalSeconds);
        var latencies = new double[total];
        var inFlight = new List<Task>(total);
        var clock = Stopwatch.StartNew();
        var sent = 0;
        var maxLag = 0.0;
        while (sent < total)
        {
            var due = Math.Min(total, (int)(clock.Elapsed.TotalSeconds * rate) + 1);
            if (due - sent > 1)
            {
                maxLag = Math.Max(maxLag, (due - sent - 1) * 1000.0 / rate);
            }

            for (; sent < due; sent++)
            {
                var i = sent;
                inFlight.Add(Task.Run(async () => latencies[i] = await TimedSendAsync(http, target)));
            }

            await Task.Delay(1);
        }

        await Task.WhenAll(inFlight);
        return ([.. latencies], maxLag);
    }

    private static async Task<double> TimedSendAsync(HttpClient http, Target target)
    {
        var start = Stopwatch.GetTimestamp();
        await SendAsync(http, target);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>Closed loop: <paramref name="concurrency"/> workers each send their next request when the last is answered.</summary>
    private static async Task<double> SaturateAsync(HttpClient http, Target target, int concurrency, TimeSpan duration)
    {
        long done = 0;
        var clock = Stopwatch.StartNew();
        var workers = new Task[concurrency];
        for (var w = 0; w < concurrency; w++)
        {
            workers[w] = Task.Run(async () =>
            {
                while (clock.Elapsed < duration)
                {
                    await SendAsync(http, target);
                    Interlocked.Increment(ref done);
                }
            });
        }

        await Task.WhenAll(workers);
        return Harness.Rate(done, clock);
    }

    private static async Task SendAsync(HttpClient http, Target target)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target.Uri) { Content = new ByteArrayContent(target.Body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        if (target.Token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + target.Token);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{target.Name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task<(string Id, string Token)> RegisterAsync(HttpClient http, Uri gateway, Uri node)
    {
        var body = JsonSerializer.Serialize(new
        {
            port = node.Port,
            health_check = "/health",
            services = new[] { new { topic = Topic, group = "_default", path = "/echo", timeout = 30 } },
        });
        using var response = await http.PostAsync(new Uri(gateway, "/nodes"), new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(text);
        if (response.StatusCode != HttpStatusCode.OK || json.RootElement.GetProperty("status").GetString() != "ok")
        {
            throw new InvalidOperationException($"registering the bench node failed: {(int)response.StatusCode} {text}");
        }

        return (json.RootElement.GetProperty("id").GetString()!, json.RootElement.GetProperty("token").GetString()!);
    }

    /// <summary>The node: answers POST /echo with the body it got (as a node would answer the gateway's delivery) and
    /// GET /health with 200.</summary>
    private static async Task<Host> StartNodeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/health", static () => Results.Ok());
        app.MapPost("/echo", static async (HttpContext context) =>
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length));
        });
        return await Host.StartAsync(app);
    }

    /// <summary>The reference for one more hop: a Kestrel endpoint that posts the body it got to the node with an
    /// <see cref="HttpClient"/> and answers with the node's answer, nothing else (no bus, no auth, no envelope).</summary>
    private static async Task<Host> StartForwarderAsync(Uri node, int concurrency)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseProxy = false });
        app.Lifetime.ApplicationStopped.Register(client.Dispose);
        app.MapPost("/forward", async (HttpContext context) =>
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            using var content = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
            content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            using var answer = await client.PostAsync(node, content, context.RequestAborted);
            var bytes = await answer.Content.ReadAsByteArrayAsync(context.RequestAborted);
            context.Response.StatusCode = (int)answer.StatusCode;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = bytes.Length;
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
        });
        return await Host.StartAsync(app);
    }

    /// <summary>The gateway as the real process composes it, on the in-process bus, warnings and errors logged to the console.</summary>
    private static async Task<Host> StartGatewayAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = "http://127.0.0.1:0",
            ["Trellis:Transport:Provider"] = "InMemory",
            ["Trellis:Nodes:Store"] = "InMemory",
            ["Trellis:Storage:Provider"] = "InMemory",
        };
        var app = TrellisApp.Build([], "gateway", settings, static builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        return await Host.StartAsync(app);
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private sealed class Host(WebApplication app, Uri address) : IAsyncDisposable
    {
        public Uri Address { get; } = address;

        public static async Task<Host> StartAsync(WebApplication app)
        {
            await app.StartAsync();
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            return new Host(app, new Uri(addresses.First()));
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
