using System.Diagnostics;
using System.Threading.Channels;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.Core.Transport.InMemory;

namespace Trellis.Bench.Kernel;

/// <summary>P1: the in-process bus against raw <see cref="Channel{T}"/>s: request/reply against a
/// ping-pong of two bounded channels, and signal fanout 1→N against N raw channel writes.</summary>
public static class P1
{
    private const int RoundTrips = 100_000;
    private const int FanoutMessages = 20_000;
    private static readonly int Subscribers = int.Parse(Environment.GetEnvironmentVariable("P1_SUBS") ?? "10", System.Globalization.CultureInfo.InvariantCulture);

    public static async Task<int> RunAsync(string[] args)
    {
        var payload = JsonPayload.Parse("{\"n\":12345,\"text\":\"hello trellis\"}");
        await using var bus = await MessageBus.StartAsync(new InMemoryTransport(new InMemoryBroker()));
        await bus.ReplyToAsync("bench.echo", "_default", static (r, _) => ValueTask.FromResult(new Message(r.Data)));

        var (ours, raw) = await Harness.InterleaveAsync(() => BusRequestReplyAsync(bus, payload), RawPingPongAsync);
        Console.WriteLine($"P1 inproc request/reply (1 in flight): ours={Harness.Fmt(ours)} rt/s raw-channel-pingpong={Harness.Fmt(raw)} rt/s ratio={ours / raw:0.00}x (goal >= 0.5x)");

        var fanoutBus = bus;
        var counter = new FanoutCounter();
        for (var i = 0; i < Subscribers; i++)
        {
            await fanoutBus.SlotAsync("bench.fanout.*", (_, _) =>
            {
                counter.Hit();
                return ValueTask.CompletedTask;
            }, options: new HandlerOptions { Concurrency = 1, MaxQueueLength = FanoutMessages + 1 });
        }

        var (oursFan, rawFan) = await Harness.InterleaveAsync(() => BusFanoutAsync(fanoutBus, counter, payload), RawFanoutAsync);
        Console.WriteLine($"P1 inproc signal fanout 1->{Subscribers}: ours={Harness.Fmt(oursFan)} deliveries/s raw-channel-writes={Harness.Fmt(rawFan)} deliveries/s ratio={oursFan / rawFan:0.00}x (goal >= 0.5x)");
        return 0;
    }

    private static async Task<double> BusRequestReplyAsync(MessageBus bus, JsonPayload payload)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < RoundTrips; i++)
        {
            var reply = await bus.RequestAsync("bench.echo", payload);
            if (reply.Code != Codes.Ok)
            {
                throw new InvalidOperationException($"bench echo failed: {reply.Code} {reply.Data}");
            }
        }

        return Harness.Rate(RoundTrips, watch);
    }

    private static async Task<double> RawPingPongAsync()
    {
        var ping = Channel.CreateBounded<object>(1);
        var pong = Channel.CreateBounded<object>(1);
        var responder = Task.Run(async () =>
        {
            await foreach (var item in ping.Reader.ReadAllAsync())
            {
                await pong.Writer.WriteAsync(item);
            }
        });

        var token = new object();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < RoundTrips; i++)
        {
            await ping.Writer.WriteAsync(token);
            await pong.Reader.ReadAsync();
        }

        var rate = Harness.Rate(RoundTrips, watch);
        ping.Writer.Complete();
        await responder;
        return rate;
    }

    private static async Task<double> BusFanoutAsync(MessageBus bus, FanoutCounter counter, JsonPayload payload)
    {
        var done = counter.Expect(FanoutMessages * Subscribers);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < FanoutMessages; i++)
        {
            await bus.SignalAsync("bench.fanout.tick", payload);
        }

        await done;
        return Harness.Rate((long)FanoutMessages * Subscribers, watch);
    }

    private static async Task<double> RawFanoutAsync()
    {
        var channels = Enumerable.Range(0, Subscribers).Select(_ => Channel.CreateUnbounded<object>()).ToArray();
        var counter = new FanoutCounter();
        var done = counter.Expect(FanoutMessages * Subscribers);
        var readers = channels.Select(c => Task.Run(async () =>
        {
            await foreach (var _ in c.Reader.ReadAllAsync())
            {
                counter.Hit();
            }
        })).ToArray();

        var token = new object();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < FanoutMessages; i++)
        {
            foreach (var channel in channels)
            {
                channel.Writer.TryWrite(token);
            }
        }

        await done;
        var rate = Harness.Rate((long)FanoutMessages * Subscribers, watch);
        foreach (var channel in channels)
        {
            channel.Writer.Complete();
        }

        await Task.WhenAll(readers);
        return rate;
    }

    private sealed class FanoutCounter
    {
        private long _hits;
        private long _target = long.MaxValue;
        private TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Expect(long count)
        {
            Interlocked.Exchange(ref _hits, 0);
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _target, count);
            return _done.Task;
        }

        public void Hit()
        {
            if (Interlocked.Increment(ref _hits) == Volatile.Read(ref _target))
            {
                _done.TrySetResult();
            }
        }
    }
}
