using Trellis.Bench;

// Usage: dotnet run -c Release --project bench -- [all|p1|p2|p3|p4|p5|p6|p7|p8|p8c|pokes|telemetry|footprint|edge|edge-proxy|edge-lan|console-idle] [--rounds N] [--count N]
var which = args.Length > 0 && !args[0].StartsWith('-') ? args[0].ToLowerInvariant() : "all";
if (which == "p3-pace")
{
    // P3's open-loop pacer, run by P3 in a process of its own.
    return await Trellis.Bench.Gateway.P3.PaceMainAsync(args);
}

if (which == "console-idle-child")
{
    // One console-idle variant, run by IdleConsole in a process of its own.
    return await Trellis.Bench.ConsoleIdle.IdleConsole.ChildMainAsync(args);
}

if (which == "p6-child")
{
    // One P6 variant, run by P6 in a process of its own so working sets do not mix.
    return await Trellis.Bench.Grains.P6.ChildMainAsync(args);
}

var rounds = Array.IndexOf(args, "--rounds");
if (rounds >= 0 && rounds + 1 < args.Length)
{
    Harness.Rounds = int.Parse(args[rounds + 1], System.Globalization.CultureInfo.InvariantCulture);
}

var peerCpus = Array.IndexOf(args, "--peer-cpus");
if (peerCpus >= 0 && peerCpus + 1 < args.Length)
{
    Harness.PeerCpus = args[peerCpus + 1];
}

var benches = new (string Name, Func<string[], Task<int>> Run)[]
{
    ("p1", Trellis.Bench.Kernel.P1.RunAsync),
    ("p2", Trellis.Bench.RabbitMq.P2.RunAsync),
    ("p3", Trellis.Bench.Gateway.P3.RunAsync),
    ("p4", Trellis.Bench.Grpc.P4.RunAsync),
    ("p5", Trellis.Bench.Storage.P5.RunAsync),
    ("p6", Trellis.Bench.Grains.P6.RunAsync),
    ("p7", Trellis.Bench.Kernel.P7.RunAsync),
    ("p8", Trellis.Bench.Flows.P8.RunAsync),
    ("p8c", Trellis.Bench.Flows.P8c.RunAsync),
    ("pokes", Trellis.Bench.Apps.Pokes.RunAsync),
    ("telemetry", Trellis.Bench.Telemetry.TelemetryCost.RunAsync),
    ("footprint", Trellis.Bench.Edge.EdgeFootprint.RunAsync),
    ("edge", Trellis.Bench.Edge.EdgeBench.RunAsync),
    ("edge-proxy", Trellis.Bench.Edge.EdgeProxy.RunAsync),
    ("edge-lan", Trellis.Bench.Edge.EdgeLan.RunAsync),
    ("console-idle", Trellis.Bench.ConsoleIdle.IdleConsole.RunAsync),
};

var exit = 0;
foreach (var (name, run) in benches)
{
    // "edge" is footprint + edge-proxy + edge-lan, which "all" runs one by one.
    if ((which == "all" && name != "edge") || which == name)
    {
        exit |= await run(args);
    }
}

return exit;
