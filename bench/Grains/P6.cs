using System.Diagnostics;
using Trellis.Core.Grains;
using Trellis.Core.Messaging;

namespace Trellis.Bench.Grains;

/// <summary>P6: memory held by N idle grain activations in one silo (in-memory store and bus) against a raw
/// baseline of N empty objects keyed by the same ids in a dictionary. Usage: <c>p6 [--count N]</c>.</summary>
public static class P6
{
    private const string Type = "idle";
    private const long GoalBytes = 2L * 1024 * 1024 * 1024;

    public static async Task<int> RunAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--count");
        var n = at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;

        var (rawHeap, rawWs) = MeasureRaw(n);

        await using var host = await OneSilo.StartAsync(static t => t.Add(Type, static _ => new IdleGrain()), shards: 64);
        var heap0 = SettledHeap();
        var ws0 = WorkingSet();
        var watch = Stopwatch.StartNew();
        const int Window = 5_000;
        var pending = new List<Task<Message>>(Window);
        for (var i = 0; i < n; i++)
        {
            pending.Add(host.Silo.InvokeLocalAsync(GrainId.Create(Type, i.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)), Touch));
            if (pending.Count == Window)
            {
                await DrainAsync(pending);
            }
        }

        await DrainAsync(pending);
        var activationRate = Harness.Rate(n, watch);
        await Task.Delay(500);
        var heap = SettledHeap() - heap0;
        var ws = WorkingSet() - ws0;
        if (host.Silo.ActivationCount != n)
        {
            throw new InvalidOperationException($"expected {n} activations, the silo holds {host.Silo.ActivationCount}");
        }

        Console.WriteLine($"P6 idle activations N={n:N0}: activated at {Harness.Fmt(activationRate)}/s");
        Console.WriteLine($"P6 managed heap: ours={heap / (double)n:0} B/activation total={heap / 1048576.0:0.0} MiB; raw dictionary of empty objects={rawHeap / (double)n:0} B/entry total={rawHeap / 1048576.0:0.0} MiB; ratio={heap / (double)rawHeap:0.00}x");
        Console.WriteLine($"P6 working set: ours={ws / (double)n:0} B/activation total={ws / 1048576.0:0.0} MiB; raw={rawWs / (double)n:0} B/entry total={rawWs / 1048576.0:0.0} MiB");
        var total = WorkingSet();
        long peak;
        using (var process = Process.GetCurrentProcess())
        {
            peak = process.PeakWorkingSet64;
        }

        Console.WriteLine($"P6 process: working set {total / 1048576.0:0.0} MiB (peak of the run {peak / 1048576.0:0.0} MiB), managed heap {GC.GetTotalMemory(false) / 1048576.0:0.0} MiB with {n:N0} activations");

        // The process as it would be with 1M activations: what it held before the first one, plus the growth scaled.
        var projected = ws0 + (Math.Max(heap, ws) * (1_000_000.0 / n));
        Console.WriteLine($"P6 projected process working set for 1,000,000 activations: {projected / 1073741824.0:0.00} GiB (goal <= 2 GiB) {(projected <= GoalBytes ? "MET" : "MISSED")}");
        GC.KeepAlive(host);
        return 0;
    }

    private static readonly GrainCall Touch = new("touch", default, "bench", false);

    private static async Task DrainAsync(List<Task<Message>> pending)
    {
        foreach (var task in pending)
        {
            var reply = await task;
            if (reply.Code != Codes.Ok)
            {
                throw new InvalidOperationException($"touch failed: {reply.Code} {reply.Data}");
            }
        }

        pending.Clear();
    }

    private static (long Heap, long WorkingSet) MeasureRaw(int n)
    {
        var heap0 = SettledHeap();
        var ws0 = WorkingSet();
        var map = new Dictionary<string, object>();
        for (var i = 0; i < n; i++)
        {
            map[i.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)] = new object();
        }

        var heap = SettledHeap() - heap0;
        var ws = WorkingSet() - ws0;
        GC.KeepAlive(map);
        return (heap, ws);
    }

    private static long SettledHeap()
    {
        // Aggressive also gives freed memory back to the OS, so the working set before ours does not keep the raw
        // baseline's pages (which ours would then reuse unseen).
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    private sealed class IdleGrain : Grain
    {
        public override ValueTask<Message> ReceiveAsync(GrainCall call, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Message(default));
    }
}
