using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Trellis.Bench.Edge;

/// <summary>edge-lan: two published linux-x64 agents on this host sharing one LAN port (two homes, two local APIs), no
/// gateway. One publishes with the lan scope, the other discovers through its local API (GET /v1/discover?scope=lan):
/// the time to find a service, with a fresh discovery cache every round (a new name or pattern each time), with one
/// published service and with 1,000, and the time to list all 1,000 with a wildcard. The floor is the same discovery
/// call on the publishing agent in the os scope (its local API and table, no network).</summary>
public static class EdgeLan
{
    private const string Publisher = "bench";

    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = (int)Number(args, "--edge-lan-rounds", "EDGE_LAN_ROUNDS", 20);
        var many = (int)Number(args, "--edge-lan-services", "EDGE_LAN_SERVICES", 1000);
        var binary = await EdgeBinary.PublishAsync("linux-x64");
        var lanPort = FreePort.Udp();
        await using var publisher = await AgentProcess.StartAsync(binary, AgentProcess.NewProvider("lana"), lanPort);
        await using var finder = await AgentProcess.StartAsync(binary, AgentProcess.NewProvider("lanb"), lanPort);
        Console.WriteLine($"edge-lan: two agents (pids {publisher.ProcessId}, {finder.ProcessId}) on UDP port {lanPort}; {rounds} rounds, medians (p90 beside)");

        // One published service: each round publishes a new name and finds it from the other agent.
        var lan = new List<double>();
        var floor = new List<double>();
        var url = "http://127.0.0.1:9/echo";
        for (var i = -2; i < rounds; i++)
        {
            var name = $"one-{i + 2}-{Guid.NewGuid():N}"[..24];
            await publisher.PublishAsync(Publisher, name, url, "os", "lan");
            var (t, n) = await DiscoverAsync(finder, Publisher, name, "lan");
            var (f, _) = await DiscoverAsync(publisher, Publisher, name, "os");
            Expect(n, 1, $"{Publisher}/{name} on the LAN");
            await publisher.SendAsync(HttpMethod.Delete, $"/v1/services/{Publisher}/{name}", null);
            if (i >= 0)
            {
                lan.Add(t);
                floor.Add(f);
            }
        }

        Print("1 service, find it", lan, floor);

        // 1,000 published services on the publishing agent.
        var publish = Stopwatch.StartNew();
        for (var i = 0; i < many; i++)
        {
            await publisher.PublishAsync(Publisher, $"svc-{i:D4}", url, "os", "lan");
        }

        publish.Stop();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"edge-lan: published {many} services in {publish.Elapsed.TotalMilliseconds:0} ms ({publish.Elapsed.TotalMilliseconds * 1000 / many:0} µs each, POST /v1/services one by one)"));

        var one = new List<double>();
        var oneFloor = new List<double>();
        var all = new List<double>();
        var allFloor = new List<double>();
        for (var i = -2; i < rounds; i++)
        {
            // A different service each round (fresh cache); the list with a pattern the finder has not asked before
            // ("*", "**", … match the same: every name).
            var name = $"svc-{(i + 2) * 37 % many:D4}";
            var (t, n) = await DiscoverAsync(finder, Publisher, name, "lan");
            Expect(n, 1, $"{Publisher}/{name} among {many} on the LAN");
            var (f, _) = await DiscoverAsync(publisher, Publisher, name, "os");
            var pattern = new string('*', i + 3);
            var (ta, na) = await DiscoverAsync(finder, Publisher, pattern, "lan");
            Expect(na, many, $"all {many} with '{pattern}' on the LAN");
            var (fa, _) = await DiscoverAsync(publisher, Publisher, pattern, "os");
            if (i >= 0)
            {
                one.Add(t);
                oneFloor.Add(f);
                all.Add(ta);
                allFloor.Add(fa);
            }
        }

        Print($"{many} services, find one", one, oneFloor);
        Print($"{many} services, list all (wildcard)", all, allFloor);
        return 0;
    }

    private static void Expect(int found, int expected, string what)
    {
        if (found != expected)
        {
            throw new InvalidOperationException($"discovery of {what} found {found}, expected {expected}");
        }
    }

    private static void Print(string what, List<double> lan, List<double> floor)
    {
        var l = Harness.Median(lan);
        var f = Harness.Median(floor);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {what}: LAN {l:0.0} ms (p90 {Harness.Percentile(lan, 0.9):0.0}, min {lan.Min():0.0})  floor (os scope on the publisher) {f:0.00} ms  ratio {l / f:0}×"));
    }

    /// <summary>GET /v1/discover on <paramref name="agent"/>: the wall time in ms and how many it found.</summary>
    private static async Task<(double Ms, int Found)> DiscoverAsync(AgentProcess agent, string publisher, string service, string scope)
    {
        var start = Stopwatch.GetTimestamp();
        var (status, body) = await agent.SendAsync(HttpMethod.Get, $"/v1/discover?publisher={publisher}&service={Uri.EscapeDataString(service)}&scope={scope}&timeout=5", null);
        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (status != 200)
        {
            throw new InvalidOperationException($"discover {publisher}/{service} in {scope} answered {status}: {body}");
        }

        return (ms, JsonNode.Parse(body)!.AsArray().Count);
    }

    private static double Number(string[] args, string option, string variable, double fallback)
    {
        var at = Array.IndexOf(args, option);
        var text = at >= 0 && at + 1 < args.Length ? args[at + 1] : Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrEmpty(text) ? fallback : double.Parse(text, CultureInfo.InvariantCulture);
    }
}
