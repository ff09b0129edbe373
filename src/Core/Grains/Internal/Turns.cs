using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Core.Grains.Internal;

/// <summary>One unit of work in an activation's mailbox.</summary>
internal abstract class Turn
{
    /// <summary>Calls that keep an activation from being collected as idle (timer ticks do not).</summary>
    public virtual bool CountsAsActivity => true;

    public abstract Task RunAsync(Activation activation);

    /// <summary>Completes the turn without running it (the activation failed to start or was lost).</summary>
    public abstract void Abandon(Exception reason);
}

/// <summary>A call: runs <see cref="Grain.ReceiveAsync"/> and completes with its reply.</summary>
internal sealed class CallTurn(GrainCall call, CancellationToken cancellationToken) : Turn
{
    private readonly TaskCompletionSource<Message> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The reply; faults with <see cref="Persistence.StaleEpochException"/> or <see cref="ShardLostException"/>
    /// when the silo no longer owns the grain, so the caller can hand the message to the new owner.</summary>
    public Task<Message> Reply => _reply.Task;

    public override async Task RunAsync(Activation activation)
    {
        try
        {
            _reply.TrySetResult(await activation.Grain.ReceiveAsync(call, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (Activation.MeansShardLost(e))
        {
            activation.OnFenced(e);
            _reply.TrySetException(e);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _reply.TrySetResult(Message.Error(Codes.HandlerTimeout, $"grain {activation.Id} did not finish '{call.Method}' in time"));
        }
        catch (Exception e)
        {
            _reply.TrySetResult(ErrorReply(e));
        }
    }

    public override void Abandon(Exception reason)
    {
        if (Activation.MeansShardLost(reason))
        {
            _reply.TrySetException(reason);
        }
        else
        {
            _reply.TrySetResult(ErrorReply(reason));
        }
    }

    private static Message ErrorReply(Exception e) => e switch
    {
        TrellisException { Kind: ErrorKind.InvalidArgument } => Message.Error(Codes.BadRequest, e.Message),
        TrellisException { Kind: ErrorKind.NotFound } => Message.Error(Codes.NotFound, e.Message),
        ArgumentException or FormatException or System.Text.Json.JsonException => Message.Error(Codes.BadRequest, e.Message),
        _ => Message.Error(Codes.HandlerError, e.Message),
    };
}

/// <summary>A durable reminder that is due.</summary>
internal sealed class ReminderTurn(string name, CancellationToken cancellationToken) : Turn
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Done => _done.Task;

    public override async Task RunAsync(Activation activation)
    {
        try
        {
            await activation.Grain.ReceiveReminderAsync(name, cancellationToken).ConfigureAwait(false);
            _done.TrySetResult();
        }
        catch (Exception e)
        {
            if (Activation.MeansShardLost(e))
            {
                activation.OnFenced(e);
            }

            _done.TrySetException(e);
        }
    }

    public override void Abandon(Exception reason) => _done.TrySetException(reason);
}

/// <summary>A timer tick.</summary>
internal sealed class TimerTurn(ActivationTimer timer) : Turn
{
    public override bool CountsAsActivity => false;

    public override Task RunAsync(Activation activation) => timer.RunCallbackAsync(activation);

    public override void Abandon(Exception reason) => timer.Release();
}

/// <summary>Raised when a silo no longer owns the shard of a grain (lease lost or handed over).</summary>
internal sealed class ShardLostException(int shard, string reason) : Exception($"shard {shard} is no longer owned here: {reason}")
{
    public int Shard { get; } = shard;
}
