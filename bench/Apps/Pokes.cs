using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Trellis.Core.Apps;
using Trellis.Core.Apps.Examples;
using Trellis.Core.Grains;
using Trellis.Core.Messaging;
using Trellis.Bench.Grains;

namespace Trellis.Bench.Apps;

/// <summary>Pokes: acked pokes per second to counter apps through <see cref="AppClient"/> on one silo (in-process bus,
/// in-memory store) against a raw channel consumer applying the same increment and completing an ack.</summary>
public static class Pokes
{
    private const int Apps = 16;
    private const int Callers = 64;
    private const int PokesPerRound = 40_000;

    public static async Task<int> RunAsync(string[] args)
    {
        await using var host = await OneSilo.StartAsync(static t => new AppAgents().AddExamples().RegisterGrain(t));
        var client = new AppClient(host.Silo.Client, host.Bus);
        var names = new string[Apps];
        for (var i = 0; i < Apps; i++)
        {
            names[i] = $"bench-counter-{i}";
            var created = await client.CreateAsync(names[i], CounterAgent.Name);
            if (created.Code != Codes.Ok)
            {
                throw new InvalidOperationException($"creating {names[i]} failed: {created.Code} {created.Data}");
            }
        }

        var data = JsonSerializer.SerializeToElement(new { by = 1 });
        var (ours, raw) = await Harness.InterleaveAsync(() => OursAsync(client, names, data), () => RawAsync(data));
        Console.WriteLine($"pokes counter apps ({Apps} apps, {Callers} callers, in-memory bus+store): ours={Harness.Fmt(ours)} pokes/s raw-channel-consumer={Harness.Fmt(raw)} increments/s ratio={ours / raw:0.0000}x");
        var peek = await client.PeekAsync(names[0], "/count");
        Console.WriteLine($"pokes check: {names[0]} /count = {peek.Data}");
        return 0;
    }

    private static Task<double> OursAsync(AppClient client, string[] names, JsonElement data) => CallersAsync(async i =>
    {
        var ack = await client.PokeAsync(names[i % names.Length], "add", data);
        if (ack.Code != Codes.Ok)
        {
            throw new InvalidOperationException($"poke failed: {ack.Code} {ack.Data}");
        }
    });

    /// <summary>The floor: each caller writes (app, data, ack) to one channel per app; a consumer per app parses the
    /// increment the way the agent does, adds it and completes the ack.</summary>
    private static async Task<double> RawAsync(JsonElement data)
    {
        var channels = new Channel<(JsonElement Data, TaskCompletionSource Ack)>[Apps];
        var counts = new long[Apps];
        var consumers = new Task[Apps];
        for (var a = 0; a < Apps; a++)
        {
            var channel = channels[a] = Channel.CreateBounded<(JsonElement, TaskCompletionSource)>(new BoundedChannelOptions(1024) { SingleReader = true });
            var index = a;
            consumers[a] = Task.Run(async () =>
            {
                await foreach (var (d, ack) in channel.Reader.ReadAllAsync())
                {
                    counts[index] += d.GetProperty("by").GetInt64();
                    ack.TrySetResult();
                }
            });
        }

        var rate = await CallersAsync(async i =>
        {
            var ack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await channels[i % Apps].Writer.WriteAsync((data, ack));
            await ack.Task;
        });
        foreach (var channel in channels)
        {
            channel.Writer.Complete();
        }

        await Task.WhenAll(consumers);
        return rate;
    }

    /// <summary>Runs <see cref="PokesPerRound"/> calls, numbered from 0, on <see cref="Callers"/> concurrent callers; the rate.</summary>
    private static async Task<double> CallersAsync(Func<int, Task> call)
    {
        var next = -1;
        var watch = Stopwatch.StartNew();
        var callers = new Task[Callers];
        for (var c = 0; c < Callers; c++)
        {
            callers[c] = Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < PokesPerRound)
                {
                    await call(i);
                }
            });
        }

        await Task.WhenAll(callers);
        return Harness.Rate(PokesPerRound, watch);
    }
}
