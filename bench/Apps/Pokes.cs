using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Orleans;
using Trellis.Bench.Grains;
using Trellis.Core.Messaging;
using Trellis.Grains.Apps;
using Trellis.Samples.Agents;

namespace Trellis.Bench.Apps;

/// <summary>Pokes: acked pokes per second to counter apps through <see cref="AppClient"/>, each poker on an app of its
/// own, at 1 and 64 concurrent pokers, against a raw floor measured in the same rounds: the same pokers writing
/// (data, ack) to one bounded <see cref="Channel{T}"/> per app, whose single reader parses the increment, adds it and
/// completes the ack. Hosts: (1) the all-in-one default (<see cref="AllInOne"/>: one silo, SQLite grain storage in a
/// temporary directory, in-process bus); (2) the same silo on memory storage; (3) a 3-silo in-process cluster
/// (<see cref="SiloCluster"/>) on memory storage and (4) on one SQLite file, poked through the cluster's client. Beside
/// the apps, to show what bounds them: a bare Orleans grain's no-op call (<see cref="IBareGrain.Ping"/>) and its state
/// write on the same storage (<see cref="IBareGrain.Touch"/>). Every variant of a host runs once per round, rounds
/// interleaved; medians, with the process's CPU time per call. Knobs: <c>--rounds N</c>, <c>POKES_SECONDS</c> (per
/// variant and round, default 2), <c>POKES_HOSTS=aio-sqlite,aio-memory,cluster-memory,cluster-sqlite</c>.</summary>
public static class Pokes
{
    private static readonly int[] Pokers = [1, 64];

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Environment.GetEnvironmentVariable("POKES_SECONDS") is { Length: > 0 } s ? double.Parse(s, CultureInfo.InvariantCulture) : 2;
        var hosts = (Environment.GetEnvironmentVariable("POKES_HOSTS") ?? "aio-sqlite,aio-memory,cluster-memory,cluster-sqlite").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var duration = TimeSpan.FromSeconds(seconds);
        var directory = Directory.CreateTempSubdirectory("trellis-pokes-");
        try
        {
            foreach (var host in hosts)
            {
                var (client, dispose) = host switch
                {
                    "aio-sqlite" => await AllInOneAsync("Sqlite", Path.Combine(directory.FullName, "aio.db")),
                    "aio-memory" => await AllInOneAsync("Memory", null),
                    "cluster-memory" => await ClusterAsync(SiloCluster.Memory),
                    "cluster-sqlite" => await ClusterAsync(SiloCluster.Sqlite(Path.Combine(directory.FullName, "cluster.db"))),
                    _ => throw new ArgumentException($"unknown pokes host '{host}'"),
                };
                try
                {
                    await RunHostAsync(host, client, duration);
                }
                finally
                {
                    await dispose();
                }
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        return 0;
    }

    private static async Task<(IClusterClient, Func<ValueTask>)> AllInOneAsync(string storage, string? path)
    {
        var silo = await AllInOne.StartAsync(storage, path);
        return (silo.Client, silo.DisposeAsync);
    }

    private static async Task<(IClusterClient, Func<ValueTask>)> ClusterAsync(Action<Orleans.Hosting.ISiloBuilder> storage)
    {
        var cluster = await SiloCluster.StartAsync(3, storage);
        return (cluster.Client, cluster.DisposeAsync);
    }

    private static async Task RunHostAsync(string host, IClusterClient client, TimeSpan duration)
    {
        var apps = new AppClient(client);
        var max = Pokers.Max();
        var names = Enumerable.Range(0, max).Select(i => $"pokes-{host}-{i}").ToArray();
        foreach (var name in names)
        {
            var created = await apps.CreateAsync(name, CounterAgent.Name);
            if (created.Code != Codes.Ok)
            {
                throw new InvalidOperationException($"creating {name} failed: {created.Code} {created.Data}");
            }
        }

        var data = JsonSerializer.SerializeToElement(new { by = 1 });
        var bare = names.Select(n => client.GetGrain<IBareGrain>(n)).ToArray();
        foreach (var pokers in Pokers)
        {
            var variants = new (string Name, Func<int, Task> Call)[]
            {
                ("app poke", async i =>
                {
                    var ack = await apps.PokeAsync(names[i], "add", data);
                    if (ack.Code != Codes.Ok)
                    {
                        throw new InvalidOperationException($"poke failed: {ack.Code} {ack.Data}");
                    }
                }),
                ("bare grain write", i => bare[i].Touch()),
                ("bare grain no-op call", i => bare[i].Ping()),
            };
            var raw = new RawHop(pokers, data);
            var rates = new List<(double Rate, double CpuMicros)>[variants.Length + 1];
            for (var v = 0; v < rates.Length; v++)
            {
                rates[v] = [];
            }

            for (var round = -1; round < Harness.Rounds; round++)
            {
                for (var v = 0; v < variants.Length; v++)
                {
                    var measured = await PokersAsync(pokers, duration, variants[v].Call);
                    if (round >= 0)
                    {
                        rates[v].Add(measured);
                    }
                }

                var hop = await PokersAsync(pokers, duration, raw.CallAsync);
                if (round >= 0)
                {
                    rates[^1].Add(hop);
                }
            }

            await raw.DisposeAsync();
            var rawRate = Harness.Median(rates[^1].Select(r => r.Rate));
            var rawCpu = Harness.Median(rates[^1].Select(r => r.CpuMicros));
            Console.WriteLine($"pokes {host}, {pokers} poker(s) on distinct apps: raw channel hop {Harness.Fmt(rawRate)}/s ({rawCpu:0.00} µs CPU/op)");
            for (var v = 0; v < variants.Length; v++)
            {
                var rate = Harness.Median(rates[v].Select(r => r.Rate));
                var cpu = Harness.Median(rates[v].Select(r => r.CpuMicros));
                Console.WriteLine($"pokes {host}, {pokers} poker(s): {variants[v].Name,-22} {Harness.Fmt(rate),7}/s  ratio {rate / rawRate:0.0000}x  {cpu:0} µs CPU/op  {1e6 * pokers / rate:0} µs/op latency");
            }
        }

        var peek = await apps.PeekAsync(names[0], "/count");
        Console.WriteLine($"pokes {host} check: {names[0]} /count = {peek.Data}");
    }

    /// <summary>Runs <paramref name="pokers"/> callers, caller i on target i, for <paramref name="duration"/>; the calls
    /// per second and the process's CPU time per call.</summary>
    private static async Task<(double Rate, double CpuMicros)> PokersAsync(int pokers, TimeSpan duration, Func<int, Task> call)
    {
        long done = 0;
        using var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var callers = new Task[pokers];
        for (var c = 0; c < pokers; c++)
        {
            var index = c;
            callers[c] = Task.Run(async () =>
            {
                while (watch.Elapsed < duration)
                {
                    await call(index);
                    Interlocked.Increment(ref done);
                }
            });
        }

        await Task.WhenAll(callers);
        var elapsed = watch.Elapsed;
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpu0;
        return (done / elapsed.TotalSeconds, cpu.TotalMicroseconds / done);
    }

    /// <summary>The floor: one bounded channel per app and a consumer per channel that parses the increment the way the
    /// agent does, adds it and completes the ack.</summary>
    private sealed class RawHop : IAsyncDisposable
    {
        private readonly Channel<(JsonElement Data, TaskCompletionSource Ack)>[] _channels;
        private readonly Task[] _consumers;
        private readonly long[] _counts;
        private readonly JsonElement _data;

        public RawHop(int apps, JsonElement data)
        {
            _data = data;
            _channels = new Channel<(JsonElement, TaskCompletionSource)>[apps];
            _counts = new long[apps];
            _consumers = new Task[apps];
            for (var a = 0; a < apps; a++)
            {
                var channel = _channels[a] = Channel.CreateBounded<(JsonElement, TaskCompletionSource)>(new BoundedChannelOptions(1024) { SingleReader = true });
                var index = a;
                _consumers[a] = Task.Run(async () =>
                {
                    await foreach (var (d, ack) in channel.Reader.ReadAllAsync())
                    {
                        _counts[index] += d.GetProperty("by").GetInt64();
                        ack.TrySetResult();
                    }
                });
            }
        }

        public async Task CallAsync(int app)
        {
            var ack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await _channels[app].Writer.WriteAsync((_data, ack));
            await ack.Task;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var channel in _channels)
            {
                channel.Writer.Complete();
            }

            await Task.WhenAll(_consumers);
        }
    }
}
