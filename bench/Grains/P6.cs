using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text.Json;
using Orleans;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using Trellis.Core.Messaging;
using Trellis.Grains.Apps;
using Trellis.Samples.Agents;

namespace Trellis.Bench.Grains;

/// <summary>P6: memory per idle activation on Orleans, in the all-in-one silo (<see cref="AllInOne"/>, memory grain
/// storage). Each variant runs in a child process of its own (this bench's executable, <c>p6-child</c>), so working sets
/// never mix: (a) <b>bare</b>, a bare Orleans grain with a small persisted state field (<see cref="BareGrain"/>), called
/// once (one state write), and (b) <b>app</b>, an idle counter app (<see cref="AppGrain"/>) created and poked once. The
/// child warms up on other keys, settles the heap, activates N grains, waits, settles again and reports the growth of
/// the working set and of the GC heap; the parent prints bytes per activation and app/bare ratios, for workstation and
/// server GC. Usage: <c>p6 [--count N]</c> (or <c>P6_COUNT</c>, default 200,000); <c>P6_GC=workstation,server</c>;
/// <c>P6_VARIANTS=bare,app</c>; <c>P6_HOLD=S</c> keeps each child alive S seconds after it reports (for
/// <c>dotnet-gcdump collect -p PID</c>).</summary>
public static class P6
{
    private const long GoalBytes = 2L * 1024 * 1024 * 1024;
    private const int Workers = 256;
    private const int Warmup = 2_000;

    public static async Task<int> RunAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--count");
        var n = at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture)
            : Environment.GetEnvironmentVariable("P6_COUNT") is { Length: > 0 } env ? int.Parse(env, CultureInfo.InvariantCulture) : 200_000;
        var gcs = (Environment.GetEnvironmentVariable("P6_GC") ?? "workstation,server").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var variants = (Environment.GetEnvironmentVariable("P6_VARIANTS") ?? "bare,app").Split(',', StringSplitOptions.RemoveEmptyEntries);

        var results = new List<Result>();
        foreach (var gc in gcs)
        {
            foreach (var variant in variants)
            {
                var result = await RunChildAsync(variant, gc, n);
                results.Add(result);
                Console.WriteLine(
                    $"P6 {variant,-4} {gc,-11} N={n:N0}: working set {result.WorkingSetPer:0} B/activation (+{result.WorkingSetGrowth / 1048576.0:0.0} MiB, process {result.WorkingSetAfter / 1048576.0:0.0} MiB), " +
                    $"GC heap {result.HeapPer:0} B/activation (+{result.HeapGrowth / 1048576.0:0.0} MiB), activated at {Harness.Fmt(result.Rate)}/s, {result.Activations:N0} activations in the silo");
            }
        }

        foreach (var gc in gcs)
        {
            var bare = results.Find(r => r.Gc == gc && r.Variant == "bare");
            var app = results.Find(r => r.Gc == gc && r.Variant == "app");
            if (bare is null || app is null)
            {
                continue;
            }

            var wsRatio = app.WorkingSetPer / bare.WorkingSetPer;
            Console.WriteLine(
                $"P6 {gc} GC: app/bare working set {wsRatio:0.00}x ({app.WorkingSetPer:0} vs {bare.WorkingSetPer:0} B; goal <= 1.20x {(wsRatio <= 1.2 ? "MET" : "MISSED")}), " +
                $"GC heap {app.HeapPer / bare.HeapPer:0.00}x ({app.HeapPer:0} vs {bare.HeapPer:0} B), app - bare = {app.WorkingSetPer - bare.WorkingSetPer:0} B working set, {app.HeapPer - bare.HeapPer:0} B heap");
        }

        foreach (var r in results)
        {
            // The process as it would be with 1M activations: what it held before the first one, plus the growth scaled.
            var projected = r.WorkingSetBefore + (r.WorkingSetPer * 1_000_000);
            Console.WriteLine($"P6 {r.Variant} {r.Gc}: projected process working set for 1,000,000 activations {projected / 1073741824.0:0.00} GiB (goal <= 2 GiB) {(projected <= GoalBytes ? "MET" : "MISSED")}");
        }

        return 0;
    }

    private sealed record Result(string Variant, string Gc, int N, long WorkingSetBefore, long WorkingSetAfter, long HeapBefore, long HeapAfter, double Rate, long Activations)
    {
        public long WorkingSetGrowth => WorkingSetAfter - WorkingSetBefore;

        public long HeapGrowth => HeapAfter - HeapBefore;

        public double WorkingSetPer => WorkingSetGrowth / (double)N;

        public double HeapPer => HeapGrowth / (double)N;
    }

    private static async Task<Result> RunChildAsync(string variant, string gc, int n)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            info.ArgumentList.Add(typeof(P6).Assembly.Location);
        }

        foreach (var arg in (string[])["p6-child", variant, n.ToString(CultureInfo.InvariantCulture)])
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_gcServer"] = gc == "server" ? "1" : "0";
        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the P6 child.");
        Result? result = null;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("P6RESULT ", StringComparison.Ordinal))
            {
                var f = line.Split(' ');
                result = new Result(variant, gc, n, long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture),
                    long.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture),
                    double.Parse(f[5], CultureInfo.InvariantCulture), long.Parse(f[6], CultureInfo.InvariantCulture));
            }
            else
            {
                Console.WriteLine($"  [{variant} {gc}] {line}");
            }
        }

        await process.WaitForExitAsync();
        return process.ExitCode == 0 && result is not null
            ? result
            : throw new InvalidOperationException($"the P6 child for {variant} ({gc} GC) failed with exit code {process.ExitCode}");
    }

    /// <summary>The child: <c>p6-child bare|app N</c>; prints <c>P6RESULT ws0 ws1 heap0 heap1 rate activations</c>.</summary>
    public static async Task<int> ChildMainAsync(string[] args)
    {
        var variant = args[1];
        var n = int.Parse(args[2], CultureInfo.InvariantCulture);
        Console.WriteLine($"pid {Environment.ProcessId}, server GC {GCSettings.IsServerGC}, concurrent GC {GCSettings.LatencyMode != GCLatencyMode.Batch}, {Environment.ProcessorCount} cores");
        await using var silo = await AllInOne.StartAsync("Memory");
        var client = silo.Client;
        var apps = new AppClient(client);
        var data = JsonSerializer.SerializeToElement(new { by = 1 });
        Func<string, Task> activate = variant switch
        {
            "bare" => key => client.GetGrain<IBareGrain>(key).Touch(),
            "app" => async key =>
            {
                var created = await apps.CreateAsync(key, CounterAgent.Name);
                var poked = created.Code == Codes.Ok ? await apps.PokeAsync(key, "add", data) : created;
                if (poked.Code != Codes.Ok)
                {
                    throw new InvalidOperationException($"app {key}: {poked.Code} {poked.Data}");
                }
            },
            _ => throw new ArgumentException($"unknown P6 variant '{variant}' (bare or app)"),
        };

        // Warm up on other keys: code paths jitted, pools and the storage grains' tables grown, before the baseline.
        await ActivateAsync(activate, "w", Warmup);
        await Task.Delay(1000);
        var heap0 = SettledHeap();
        var ws0 = WorkingSet();
        var watch = Stopwatch.StartNew();
        await ActivateAsync(activate, "p6", n);
        var rate = Harness.Rate(n, watch);
        // Idle: whatever the activations still do after their calls (writes in flight, timers) settles first.
        await Task.Delay(3000);
        var heap1 = SettledHeap();
        var ws1 = WorkingSet();
        var activations = await client.GetGrain<IManagementGrain>(0).GetTotalActivationCount();
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        Console.WriteLine($"GC: heap {info.HeapSizeBytes / 1048576.0:0.0} MiB, committed {info.TotalCommittedBytes / 1048576.0:0.0} MiB, fragmented {info.FragmentedBytes / 1048576.0:0.0} MiB, gen2 collections {GC.CollectionCount(2)}");
        await PartsAsync(silo, variant);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"P6RESULT {ws0} {ws1} {heap0} {heap1} {rate:0} {activations}"));
        if (Environment.GetEnvironmentVariable("P6_HOLD") is { Length: > 0 } hold)
        {
            Console.WriteLine($"holding {hold} s: dotnet-gcdump collect -p {Environment.ProcessId}");
            await Task.Delay(TimeSpan.FromSeconds(int.Parse(hold, CultureInfo.InvariantCulture)));
        }

        return 0;
    }

    /// <summary>What one idle activation's own objects hold, by allocation diff: the stored copy the memory storage keeps
    /// (its serializer's bytes), the state object graph as the activation holds it (an Orleans deep copy of the stored
    /// state), and for apps the agent state cached as a <see cref="JsonElement"/> and the last write's task.</summary>
    private static async Task PartsAsync(AllInOne silo, string variant)
    {
        var services = silo.Services;
        var storage = services.GetRequiredKeyedService<IGrainStorage>(Orleans.Providers.ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME);
        var serializer = services.GetRequiredService<IGrainStorageSerializer>();
        var copier = services.GetRequiredService<Orleans.Serialization.DeepCopier>();
        var key = "p6-00000000";
        if (variant == "app")
        {
            var state = new GrainState<AppRecord>(new AppRecord());
            await storage.ReadStateAsync("app", silo.Client.GetGrain<IAppGrain>(key).GetGrainId(), state);
            var record = state.State!;
            Report(serializer.Serialize(record), () => copier.Copy(record));
            var json = record.State ?? "null";
            using var parsed = JsonDocument.Parse(json);
            var cached = Allocated(() => parsed.RootElement.Clone());
            Console.WriteLine($"P6 parts app: agent state cached as JsonElement {cached} B (a JsonDocument of its own with its UTF-8 copy and metadata; text {json}); " +
                $"Recent {record.Recent.Count} ids, {record.Subscribers.Count} subscribers, {record.Children.Count} children, {record.Outbox.Count} outgoing; " +
                "the last write's completed Task 64 B kept (_lastWrite)");
        }
        else
        {
            var state = new GrainState<BareState>(new BareState());
            await storage.ReadStateAsync("bare", silo.Client.GetGrain<IBareGrain>(key).GetGrainId(), state);
            Report(serializer.Serialize(state.State), () => copier.Copy(state.State)!);
        }

        void Report(BinaryData stored, Func<object> copy) =>
            Console.WriteLine($"P6 parts {variant}: stored copy {stored.Length} B serialized (+24 B array header) by {serializer.GetType().Name}: {stored}; state object graph {Allocated(copy)} B");
    }

    private static long Allocated(Func<object> make)
    {
        make();
        var before = GC.GetAllocatedBytesForCurrentThread();
        var made = make();
        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(made);
        return bytes;
    }

    /// <summary>Activates <paramref name="count"/> grains keyed <c>prefix-00000000</c>… with <see cref="Workers"/> calls in flight.</summary>
    private static async Task ActivateAsync(Func<string, Task> activate, string prefix, int count)
    {
        var next = -1;
        var workers = new Task[Workers];
        for (var w = 0; w < Workers; w++)
        {
            workers[w] = Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    await activate($"{prefix}-{i:x8}");
                }
            });
        }

        await Task.WhenAll(workers);
    }

    private static long SettledHeap()
    {
        // Aggressive also gives freed memory back to the OS, so the working set before holds no garbage the activations
        // would then reuse unseen.
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
}
