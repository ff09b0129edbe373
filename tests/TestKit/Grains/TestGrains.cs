using System.Collections.Concurrent;
using System.Text.Json;
using Trellis.Core.Grains;
using Trellis.Core.Messaging;
using Xunit;

namespace Trellis.TestKit.Grains;

public sealed class CounterState
{
    public long Value { get; set; }

    public List<string> Seen { get; set; } = [];
}

/// <summary>Adds to a durable counter; remembers the message ids it applied so a redelivered call is not applied twice.</summary>
public sealed class CounterGrain : Grain<CounterState>
{
    public static readonly ConcurrentDictionary<string, int> Activations = new();
    public static readonly ConcurrentDictionary<string, TaskCompletionSource> Gates = new();

    public override ValueTask OnActivateAsync(CancellationToken cancellationToken)
    {
        Activations.AddOrUpdate(Id.Key, 1, static (_, n) => n + 1);
        return ValueTask.CompletedTask;
    }

    public override async ValueTask<Message> ReceiveAsync(GrainCall call, CancellationToken cancellationToken)
    {
        switch (call.Method)
        {
            case "add":
                if (!State.Seen.Contains(call.MessageId))
                {
                    if (Gates.TryGetValue(Id.Key, out var gate))
                    {
                        await gate.Task.WaitAsync(cancellationToken);
                    }

                    State.Value += call.Data.ToJsonElement().GetProperty("by").GetInt64();
                    State.Seen.Add(call.MessageId);
                    await WriteStateAsync(cancellationToken);
                }

                return Reply();
            case "get":
                return Reply();
            case "clear":
                await ClearStateAsync(cancellationToken);
                return Reply();
            case "fail":
                throw new InvalidOperationException("the counter was asked to fail");
            case "deactivate":
                DeactivateOnIdle();
                return Reply();
            default:
                return Message.Error(Codes.BadRequest, $"unknown method '{call.Method}'");
        }
    }

    private Message Reply() => Message.Ok(JsonPayload.From(new { value = State.Value, version = StateVersion }));
}

/// <summary>Counts how many of its turns overlap.</summary>
public class OverlapGrain : Grain
{
    public static readonly ConcurrentDictionary<string, int> MaxInside = new();
    private int _inside;

    public override async ValueTask<Message> ReceiveAsync(GrainCall call, CancellationToken cancellationToken)
    {
        var inside = Interlocked.Increment(ref _inside);
        MaxInside.AddOrUpdate(Id.Key, inside, (_, m) => Math.Max(m, inside));
        await Task.Delay(5, cancellationToken);
        Interlocked.Decrement(ref _inside);
        return Message.Ok(JsonPayload.Null);
    }
}

/// <summary>Registers timers and reminders on request and records when they run.</summary>
public sealed class TickingGrain : Grain
{
    public static readonly ConcurrentDictionary<string, ConcurrentQueue<DateTimeOffset>> Reminded = new();
    public static readonly ConcurrentDictionary<string, int> Ticks = new();
    public static readonly ConcurrentDictionary<string, int> Deactivations = new();

    public override async ValueTask<Message> ReceiveAsync(GrainCall call, CancellationToken cancellationToken)
    {
        var data = call.Data.IsNull ? default : call.Data.ToJsonElement();
        switch (call.Method)
        {
            case "timer":
                RegisterTimer(_ =>
                {
                    Ticks.AddOrUpdate(Id.Key, 1, static (_, n) => n + 1);
                    return ValueTask.CompletedTask;
                }, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20));
                return Message.Ok(JsonPayload.Null);
            case "remind":
                await RegisterReminderAsync("r", TimeSpan.FromMilliseconds(data.GetProperty("dueMs").GetInt32()),
                    TimeSpan.FromMilliseconds(data.GetProperty("periodMs").GetInt32()), cancellationToken);
                return Message.Ok(JsonPayload.Null);
            case "forget":
                return Message.Ok(JsonPayload.From(await UnregisterReminderAsync("r", cancellationToken)));
            case "bad-reminder":
                await RegisterReminderAsync("r", TimeSpan.Zero, TimeSpan.FromTicks(1), cancellationToken);
                return Message.Ok(JsonPayload.Null);
            case "deactivate":
                DeactivateOnIdle();
                return Message.Ok(JsonPayload.Null);
            default:
                return Message.Error(Codes.BadRequest, call.Method);
        }
    }

    public override ValueTask ReceiveReminderAsync(string name, CancellationToken cancellationToken)
    {
        Reminded.GetOrAdd(Id.Key, _ => new ConcurrentQueue<DateTimeOffset>()).Enqueue(DateTimeOffset.UtcNow);
        return ValueTask.CompletedTask;
    }

    public override ValueTask OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Deactivations.AddOrUpdate(Id.Key, 1, static (_, n) => n + 1);
        return ValueTask.CompletedTask;
    }
}

public static class GrainTestData
{
    public static JsonPayload Add(long by) => JsonPayload.From(new { by });

    public static long Value(this Message reply)
    {
        Assert.True(reply.Code == Codes.Ok, $"expected 200, got {reply.Code}: {reply.Data}");
        return reply.Data.ToJsonElement().GetProperty("value").GetInt64();
    }

    public static string NewKey() => Guid.NewGuid().ToString("N");

    public static void Register(GrainTypes types) => types
        .Add<CounterGrain>("counter")
        .Add<OverlapGrain>("overlap")
        .Add<ReentrantOverlapGrain>("overlap-reentrant", reentrant: true)
        .Add<TickingGrain>("ticking");

    public static JsonElement Json(this Message reply) => reply.Data.ToJsonElement();
}

public sealed class ReentrantOverlapGrain : OverlapGrain
{
}
