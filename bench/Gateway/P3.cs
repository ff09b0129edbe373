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
/// P3: client → gateway → node against client → node directly, HTTP/1.1 on loopback. The gateway is the real process
/// composition (<see cref="TrellisApp.Build(string[], string, IEnumerable{KeyValuePair{string, string?}}?, Action{WebApplicationBuilder}?)"/>)
/// on the in-process bus, hosted in this process. The node answers the gateway's POST callback: by default a static nginx
/// server (a fixed JSON body, so the node costs next to nothing and the proxies are what is measured), or a minimal
/// Kestrel endpoint in this process that echoes the body (<c>--p3-node kestrel</c>). Two references run beside the
/// gateway against the same node: nginx as a reverse proxy (<c>proxy_pass</c>, upstream keep-alive) — what a real
/// proxy achieves on this machine — and a naive forwarding proxy (one Kestrel + HttpClient hop, nothing else).
/// (a) Added p50 latency at a fixed open-loop rate (Dapr's method: 1,000 req/s; a pacer in a child process of its own, so
/// the client shares no thread pool with the gateway); (b) throughput at saturation with a fixed number of connections, driven by wrk (an external process, so the
/// load generator does not share the bench's thread pool and GC with the gateway it measures); (c) p50 at one
/// connection, closed loop (wrk -c1). Rounds are interleaved and medians reported.
/// Usage: <c>p3 [--p3-rate 1000] [--p3-seconds 5] [--p3-concurrency 32] [--p3-node nginx|kestrel] [--p3-load wrk|inproc] [--p3-pacer process|inproc] [--p3-phases abc]</c>.
/// </summary>
public static class P3
{
    internal const string Topic = "bench.echo";
    internal const string StaticReply = "{\"n\":1,\"text\":\"hello trellis\"}";

    public static async Task<int> RunAsync(string[] args)
    {
        var rate = Option(args, "--p3-rate", 1000);
        var seconds = Option(args, "--p3-seconds", 5);
        var concurrency = Option(args, "--p3-concurrency", 32);
        var nodeKind = Text(args, "--p3-node", "nginx");
        var load = Text(args, "--p3-load", "wrk");
        var phases = Text(args, "--p3-phases", "abc");
        var pacer = Text(args, "--p3-pacer", "process");
        EnsureTools();
        var haveNginx = File.Exists(Nginx.Binary);
        var haveWrk = File.Exists(Wrk.Binary);
        if (nodeKind == "nginx" && !haveNginx)
        {
            Console.WriteLine("P3: nginx not found (scripts/bench-deps.sh installs it): using the Kestrel node, without the nginx reference");
            nodeKind = "kestrel";
        }

        if (load == "wrk" && !haveWrk)
        {
            Console.WriteLine("P3: wrk not found (scripts/bench-deps.sh installs it): saturating with the in-process client");
            load = "inproc";
        }

        // With the nginx node one nginx serves both the node and the reverse proxy to it; otherwise nginx proxies to Kestrel.
        await using var kestrelNode = nodeKind == "kestrel" ? await StartNodeAsync() : null;
        await using var nginx = haveNginx
            ? nodeKind == "nginx"
                ? await Nginx.StartAsync(Environment.ProcessorCount, StaticReply, upstream: null, proxyStaticNode: true)
                : await Nginx.StartAsync(Environment.ProcessorCount, staticReply: null, kestrelNode!.Address)
            : null;
        var nodeAddress = kestrelNode?.Address ?? nginx!.Node!;
        await using var gateway = await StartGatewayAsync();
        await using var forwarder = await StartForwarderAsync(new Uri(nodeAddress, "/echo"), concurrency);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
        })
        { Timeout = TimeSpan.FromSeconds(30) };

        var (nodeId, token) = await RegisterAsync(http, gateway.Address, nodeAddress);

        // Every path carries the same JSON to the node: the direct call sends the envelope the gateway would deliver.
        var envelope = JsonSerializer.SerializeToUtf8Bytes(new { topic = Topic, sender = "bench", data = new { n = 1, text = "hello trellis" }, timeout = 30 });
        var direct = new Target("direct", new Uri(nodeAddress, "/echo"), null, envelope);
        var viaGateway = new Target("gateway", new Uri(gateway.Address, $"/request/{nodeId}"), token,
            JsonSerializer.SerializeToUtf8Bytes(new { topic = Topic, message = new { n = 1, text = "hello trellis" }, timeout = 30 }));
        var viaForwarder = new Target("naive-forward", new Uri(forwarder.Address, "/forward"), null, envelope);
        var viaNginx = nginx is null ? null : new Target("nginx-proxy", new Uri(nginx.Proxy!, "/echo"), null, envelope);
        Target[] targets = viaNginx is null ? [direct, viaGateway, viaForwarder] : [direct, viaGateway, viaNginx, viaForwarder];
        var scripts = Directory.CreateTempSubdirectory("trellis-bench-p3-");
        try
        {
            foreach (var target in targets)
            {
                target.Script = haveWrk ? Wrk.WriteScript(scripts.FullName, target.Name, target.Body, target.Token) : null;
            }

            Console.WriteLine($"P3 node={nodeKind} load={load}; bench process {Environment.ProcessId} (gateway, naive-forward{(kestrelNode is null ? "" : ", node")}), nginx {(nginx is null ? "none" : nginx.ProcessId.ToString(CultureInfo.InvariantCulture))}");

            // Warm-up: JIT, connection pools, the gateway's client to the node.
            foreach (var target in targets)
            {
                await SaturateAsync(http, target, concurrency, TimeSpan.FromSeconds(1));
            }

            if (phases.Contains('a', StringComparison.Ordinal))
            {
                await LatencyAtRateAsync(http, targets, rate, seconds, external: pacer == "process", scripts.FullName);
            }

            if (phases.Contains('b', StringComparison.Ordinal))
            {
                await SaturationAsync(http, targets, load, concurrency, nginx?.ProcessId);
            }

            if (haveWrk && phases.Contains('c', StringComparison.Ordinal))
            {
                await OneConnectionAsync(targets);
            }
        }
        finally
        {
            scripts.Delete(recursive: true);
        }

        return 0;
    }

    /// <summary>(a) Latency at a fixed open-loop rate, rounds interleaved.</summary>
    private static async Task LatencyAtRateAsync(HttpClient http, Target[] targets, int rate, int seconds, bool external, string directory)
    {
        var p50 = targets.ToDictionary(t => t, _ => new List<double>());
        var p99 = targets.ToDictionary(t => t, _ => new List<double>());
        var late = 0.0;
        for (var round = 0; round < Harness.Rounds; round++)
        {
            foreach (var target in targets)
            {
                var (t50, t99, lag) = external
                    ? await PacedExternallyAsync(target, rate, seconds, directory)
                    : Summary(await PacedAsync(http, target, rate, TimeSpan.FromSeconds(seconds)));
                p50[target].Add(t50);
                p99[target].Add(t99);
                late = Math.Max(late, lag);
            }
        }

        var direct = targets[0];
        var (d50, d99) = (Harness.Median(p50[direct]), Harness.Median(p99[direct]));
        var client = external ? "a pacer in its own process" : "in-process client";
        Console.WriteLine($"P3 (a) latency at {rate} req/s open-loop, {client} ({Harness.Rounds} rounds x {seconds} s per path, medians of rounds; pacer max lag {late:0.0} ms):");
        foreach (var target in targets)
        {
            var (t50, t99) = (Harness.Median(p50[target]), Harness.Median(p99[target]));
            var verdict = target.Name == "gateway" ? $" (goal <= 0.25 ms) {(t50 - d50 <= 0.25 ? "MET" : "MISSED")}" : "";
            Console.WriteLine(target == direct
                ? $"P3   {target.Name,-13} p50={t50:0.000} ms p99={t99:0.000} ms"
                : $"P3   {target.Name,-13} p50={t50:0.000} ms p99={t99:0.000} ms added p50={t50 - d50:0.000} ms{verdict} added p99={t99 - d99:0.000} ms");
        }
    }

    /// <summary>(b) Throughput at saturation with a fixed number of connections, rounds interleaved.</summary>
    private static async Task SaturationAsync(HttpClient http, Target[] targets, string load, int concurrency, int? nginxPid)
    {
        var duration = TimeSpan.FromSeconds(3);
        var rates = targets.ToDictionary(t => t, _ => new List<double>());
        var p50 = targets.ToDictionary(t => t, _ => new List<double>());
        var benchCpu = targets.ToDictionary(t => t, _ => new List<double>());
        var nginxCpu = targets.ToDictionary(t => t, _ => new List<double>());
        for (var round = 0; round < Harness.Rounds; round++)
        {
            foreach (var target in targets)
            {
                if (load == "wrk")
                {
                    var (bench0, nginx0) = (CpuTime.Seconds(Environment.ProcessId), nginxPid is { } n0 ? CpuTime.Seconds(n0, withChildren: true) : 0);
                    var result = await Wrk.RunAsync(target.Uri, target.Script!, concurrency, duration);
                    var (bench1, nginx1) = (CpuTime.Seconds(Environment.ProcessId), nginxPid is { } n1 ? CpuTime.Seconds(n1, withChildren: true) : 0);
                    rates[target].Add(result.RequestsPerSecond);
                    p50[target].Add(result.P50Ms);
                    benchCpu[target].Add((bench1 - bench0) * 1e6 / result.Requests);
                    nginxCpu[target].Add((nginx1 - nginx0) * 1e6 / result.Requests);
                    if (result.SocketErrors is { } errors)
                    {
                        Console.WriteLine($"P3   warning: {target.Name}: {errors}");
                    }
                }
                else
                {
                    rates[target].Add(await SaturateAsync(http, target, concurrency, duration));
                }
            }
        }

        var client = load == "wrk" ? $"wrk -t1 -c{concurrency}" : $"in-process HttpClient, {concurrency} in flight";
        Console.WriteLine($"P3 (b) saturation, {client}, {duration.TotalSeconds:0} s per path, medians of {Harness.Rounds} interleaved rounds" +
            " (CPU: the bench process hosts the gateway and naive-forward, nginx the reverse proxy and the static node):");
        var direct = Harness.Median(rates[targets[0]]);
        foreach (var target in targets)
        {
            var r = Harness.Median(rates[target]);
            var latency = load == "wrk"
                ? $" p50={Harness.Median(p50[target]):0.000} ms; CPU per request: bench process {Harness.Median(benchCpu[target]),5:0.0} us, nginx {Harness.Median(nginxCpu[target]),5:0.0} us"
                : "";
            Console.WriteLine($"P3   {target.Name,-13} {Harness.Fmt(r),7} req/s{latency} /direct={r / direct:0.00}x");
        }

        var gateway = Harness.Median(rates[targets[1]]);
        if (targets.FirstOrDefault(t => t.Name == "nginx-proxy") is { } nginx)
        {
            var reference = Harness.Median(rates[nginx]);
            Console.WriteLine($"P3   gateway/nginx-proxy={gateway / reference:0.00}x (goal >= 0.8x) {(gateway / reference >= 0.8 ? "MET" : "MISSED")}; gateway/direct={gateway / direct:0.00}x");
        }
        else
        {
            Console.WriteLine($"P3   gateway/direct={gateway / direct:0.00}x (no nginx reference)");
        }
    }

    /// <summary>(c) Closed loop at one connection: the added p50 of each proxy over the direct call.</summary>
    private static async Task OneConnectionAsync(Target[] targets)
    {
        var duration = TimeSpan.FromSeconds(2);
        var p50 = targets.ToDictionary(t => t, _ => new List<double>());
        var rates = targets.ToDictionary(t => t, _ => new List<double>());
        for (var round = 0; round < Harness.Rounds; round++)
        {
            foreach (var target in targets)
            {
                var result = await Wrk.RunAsync(target.Uri, target.Script!, 1, duration);
                p50[target].Add(result.P50Ms);
                rates[target].Add(result.RequestsPerSecond);
            }
        }

        Console.WriteLine($"P3 (c) one connection, wrk -t1 -c1, {duration.TotalSeconds:0} s per path, medians of {Harness.Rounds} interleaved rounds:");
        var d50 = Harness.Median(p50[targets[0]]);
        foreach (var target in targets)
        {
            var t50 = Harness.Median(p50[target]);
            Console.WriteLine($"P3   {target.Name,-13} p50={t50:0.000} ms added p50={t50 - d50:0.000} ms {Harness.Fmt(Harness.Median(rates[target])),7} req/s");
        }
    }

    /// <summary>Runs scripts/bench-deps.sh (installs wrk and nginx-light with apt-get, as root) when either is missing.</summary>
    internal static void EnsureTools()
    {
        if (File.Exists(Wrk.Binary) && File.Exists(Nginx.Binary))
        {
            return;
        }

        var script = FindUp(Path.Combine("scripts", "bench-deps.sh"));
        if (script is null)
        {
            return;
        }

        using var process = Process.Start(new ProcessStartInfo("bash", [script]) { UseShellExecute = false });
        process?.WaitForExit();
    }

    private static string? FindUp(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private sealed record Target(string Name, Uri Uri, string? Token, byte[] Body)
    {
        /// <summary>The wrk script that POSTs <see cref="Body"/>.</summary>
        public string? Script { get; set; }
    }

    private static (double P50, double P99, double Lag) Summary((List<double> Latencies, double MaxLagMs) run) =>
        (Harness.Percentile(run.Latencies, 0.50), Harness.Percentile(run.Latencies, 0.99), run.MaxLagMs);

    /// <summary>Runs the open-loop pacer in a child process (this bench's own executable, <c>p3-pace</c>), so the client
    /// shares neither thread pool nor GC with the gateway it measures.</summary>
    private static async Task<(double P50, double P99, double Lag)> PacedExternallyAsync(Target target, int rate, int seconds, string directory)
    {
        var body = Path.Combine(directory, target.Name + ".json");
        await File.WriteAllBytesAsync(body, target.Body);
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            info.ArgumentList.Add(typeof(P3).Assembly.Location);
        }

        foreach (var arg in (string[])["p3-pace", target.Uri.ToString(), target.Token ?? "-", body, rate.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture)])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the pacer.");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var fields = output.Trim().Split(' ');
        if (process.ExitCode != 0 || fields.Length != 3)
        {
            throw new InvalidOperationException($"the pacer for {target.Name} failed ({process.ExitCode}): {output}");
        }

        return (double.Parse(fields[0], CultureInfo.InvariantCulture), double.Parse(fields[1], CultureInfo.InvariantCulture), double.Parse(fields[2], CultureInfo.InvariantCulture));
    }

    /// <summary>The child process of <see cref="PacedExternallyAsync"/>: <c>p3-pace url token|- body-file rate seconds</c>;
    /// warms up, paces, prints "p50 p99 max-lag" in milliseconds.</summary>
    public static async Task<int> PaceMainAsync(string[] args)
    {
        var token = args[2] == "-" ? null : args[2];
        var target = new Target("paced", new Uri(args[1]), token, await File.ReadAllBytesAsync(args[3]));
        var rate = int.Parse(args[4], CultureInfo.InvariantCulture);
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        await PacedAsync(http, target, rate, TimeSpan.FromSeconds(1));
        var (p50, p99, lag) = Summary(await PacedAsync(http, target, rate, TimeSpan.FromSeconds(int.Parse(args[5], CultureInfo.InvariantCulture))));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p50:0.0000} {p99:0.0000} {lag:0.0}"));
        return 0;
    }

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

    internal static async Task<(string Id, string Token)> RegisterAsync(HttpClient http, Uri gateway, Uri node)
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
    internal static async Task<Host> StartGatewayAsync(IDictionary<string, string?>? extra = null, string role = "gateway")
    {
        var settings = new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = "http://127.0.0.1:0",
            ["Trellis:Transport:Provider"] = "InMemory",
            ["Trellis:Nodes:Store"] = "InMemory",
            ["Trellis:Storage:Provider"] = "InMemory",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var app = TrellisApp.Build([], role, settings, static builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        return await Host.StartAsync(app);
    }

    private static string Text(string[] args, string name, string fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1].ToLowerInvariant() : fallback;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    internal sealed class Host(WebApplication app, Uri address) : IAsyncDisposable
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
