using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;

namespace Trellis.Bench.Edge;

/// <summary>edge-proxy: a local HTTP service on the device, published to the WAN scope by the published linux-x64 agent
/// (a process of its own, its link up to the bench's gateway), called directly with an HTTP POST (the baseline) and
/// through the cluster: over the gateway's REST API (POST /request/{node}: HTTP → gateway → bus → link → agent →
/// service and back) and from the cluster's bus (bus → link → agent → service). Latency at 1 in flight, requests per
/// second at 1, 16 and 64 in flight, rounds interleaved.</summary>
public static class EdgeProxy
{
    private const string Topic = "edge.bench.echo";
    private const string Body = """{"n":1,"text":"a small request body of about one hundred bytes, as a device's service would get"}""";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Number(args, "--edge-seconds", "EDGE_SECONDS", 2);
        var levels = new[] { 1, 16, 64 };

        await using var service = await EchoService.StartAsync();
        await using var gateway = await EdgeGateway.StartAsync();
        var binary = await EdgeBinary.PublishAsync("linux-x64");
        var provider = AgentProcess.NewProvider("px");
        var token = await gateway.IssueTokenAsync(provider);
        await using var agent = await AgentProcess.StartAsync(binary, provider, FreePort.Udp(), gateway.GrpcAddress, token);
        await agent.PublishAsync("bench", "echo", new Uri(service.Address, "/echo").ToString(), "os", "wan");
        var bus = await gateway.BusAsync();
        var node = await gateway.RegisterNodeAsync(service.Address.Port);

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var direct = new Uri(service.Address, "/echo");
        var viaGateway = new Uri(gateway.HttpAddress, $"/request/{node.Id}");
        var gatewayBody = $$"""{"topic":"{{Topic}}","message":{{Body}}}""";
        var payload = JsonPayload.Parse(Body);

        var paths = new (string Name, Func<Task> Call)[]
        {
            ("direct", () => PostAsync(http, direct, Body, null)),
            ("gateway", () => PostAsync(http, viaGateway, gatewayBody, node.Token)),
            ("bus", () => BusAsync(bus, payload)),
        };

        // The device's service is reachable through the link once the device's record has it: wait for the first answer.
        var ready = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await paths[2].Call();
                await paths[1].Call();
                break;
            }
            catch (Exception e) when (ready.Elapsed < TimeSpan.FromSeconds(30))
            {
                _ = e;
                await Task.Delay(200);
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"edge-proxy: agent {binary.Path} (pid {agent.ProcessId}, linux-x64 Native AOT) linked to the bench's gateway; {Harness.Rounds} rounds × {seconds:0.#} s per path and level, closed loop from the bench process"));
        Console.WriteLine("edge-proxy paths: direct = HTTP POST to the service; gateway = POST /request/{node} (HTTP → gateway → bus → link → agent → service); bus = the cluster's bus (→ link → agent → service)");

        var latencies = paths.ToDictionary(p => p.Name, _ => new List<double>());
        var rates = new Dictionary<(string, int), List<double>>();
        var agentCpu = new Dictionary<(string, int), List<double>>();
        for (var round = -1; round < Harness.Rounds; round++)
        {
            foreach (var level in levels)
            {
                foreach (var (name, call) in paths)
                {
                    var cpu0 = Gateway.CpuTime.Seconds(agent.ProcessId);
                    var (rate, count, times) = await LoadAsync(call, level, TimeSpan.FromSeconds(round < 0 ? 0.5 : seconds), record: level == 1);
                    var cpu = Gateway.CpuTime.Seconds(agent.ProcessId) - cpu0;
                    if (round < 0)
                    {
                        continue; // warm-up
                    }

                    if (!rates.TryGetValue((name, level), out var list))
                    {
                        rates[(name, level)] = list = [];
                    }

                    list.Add(rate);
                    if (!agentCpu.TryGetValue((name, level), out var perRequest))
                    {
                        agentCpu[(name, level)] = perRequest = [];
                    }

                    perRequest.Add(cpu * 1e6 / count);
                    if (level == 1)
                    {
                        latencies[name].AddRange(times);
                    }
                }
            }
        }

        var directP50 = Harness.Percentile(latencies["direct"], 0.5);
        var directP99 = Harness.Percentile(latencies["direct"], 0.99);
        Console.WriteLine("edge-proxy latency at 1 in flight (all rounds pooled):");
        foreach (var (name, _) in paths)
        {
            var p50 = Harness.Percentile(latencies[name], 0.5);
            var p99 = Harness.Percentile(latencies[name], 0.99);
            var added = name == "direct"
                ? ""
                : string.Create(CultureInfo.InvariantCulture, $"  added p50 {p50 - directP50:0.000} ms, p99 {p99 - directP99:0.000} ms  ({p50 / directP50:0.0}× direct)");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-8} p50 {p50:0.000} ms  p99 {p99:0.000} ms{added}"));
        }

        Console.WriteLine("edge-proxy requests/s (median of rounds):");
        foreach (var level in levels)
        {
            var d = Harness.Median(rates[("direct", level)]);
            var line = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"  {level,2} in flight: direct {Harness.Fmt(d)}/s"));
            foreach (var (name, _) in paths.Skip(1))
            {
                var r = Harness.Median(rates[(name, level)]);
                var us = Harness.Median(agentCpu[(name, level)]);
                line.Append(string.Create(CultureInfo.InvariantCulture, $"  {name} {Harness.Fmt(r)}/s ({r / d:0.00}× direct, agent CPU {us:0} µs/request)"));
            }

            Console.WriteLine(line);
        }

        var status = File.ReadAllLines($"/proc/{agent.ProcessId}/status");
        Console.WriteLine($"edge-proxy agent after the load: {string.Join(", ", status.Where(static l => l.StartsWith("VmRSS:", StringComparison.Ordinal) || l.StartsWith("VmHWM:", StringComparison.Ordinal)).Select(static l => string.Join(' ', l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))))}");
        return 0;
    }

    private static async Task PostAsync(HttpClient http, Uri uri, string body, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK || !text.Contains("\"echo\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"POST {uri} answered {(int)response.StatusCode}: {text}");
        }
    }

    private static async Task BusAsync(MessageBus bus, JsonPayload payload)
    {
        var reply = await bus.RequestAsync(Topic, payload, TimeSpan.FromSeconds(30));
        if (!reply.IsOk)
        {
            throw new InvalidOperationException($"{Topic} answered {reply.Code}: {reply.Data}");
        }
    }

    /// <summary>Keeps <paramref name="inFlight"/> calls going for <paramref name="duration"/>; the rate, and each call's
    /// latency in ms when <paramref name="record"/>.</summary>
    private static async Task<(double Rate, long Count, List<double> Latencies)> LoadAsync(Func<Task> call, int inFlight, TimeSpan duration, bool record)
    {
        var watch = Stopwatch.StartNew();
        var all = new List<double>();
        long count = 0;
        async Task WorkerAsync()
        {
            var mine = new List<double>();
            while (watch.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                await call();
                if (record)
                {
                    mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }

                Interlocked.Increment(ref count);
            }

            lock (all)
            {
                all.AddRange(mine);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(_ => Task.Run(WorkerAsync)));
        return (count / watch.Elapsed.TotalSeconds, count, all);
    }

    private static double Number(string[] args, string option, string variable, double fallback)
    {
        var at = Array.IndexOf(args, option);
        var text = at >= 0 && at + 1 < args.Length ? args[at + 1] : Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrEmpty(text) ? fallback : double.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>The program on the device: POST /echo answers {"echo": body, "by": "device"}; GET /health answers 200
    /// (so it can also stand as the node that calls /request).</summary>
    private sealed class EchoService : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private EchoService(WebApplication app, Uri address)
        {
            _app = app;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<EchoService> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.MapGet("/health", static () => Results.Ok());
            app.MapPost("/echo", static async (HttpContext context) =>
            {
                using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
                var body = await reader.ReadToEndAsync(context.RequestAborted);
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync($$"""{"echo":{{body}},"by":"device"}""", context.RequestAborted);
            });
            await app.StartAsync();
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return new EchoService(app, address);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
