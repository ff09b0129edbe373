using Trellis.Core.Grains.Internal;
using Trellis.Core.Messaging;

namespace Trellis.Core.Grains;

/// <summary>A call delivered to a grain: what to do (<see cref="Method"/>), its JSON argument, and the id that makes retries recognisable.</summary>
/// <param name="Method">The operation, chosen by the caller (for apps: poke, watch, leave, peek, ...).</param>
/// <param name="Data">The argument.</param>
/// <param name="MessageId">Unique per logical call; a retried or redelivered call carries the same id, so a grain that keeps
/// recent ids in its durable state can absorb duplicates.</param>
/// <param name="Redelivered">True when the message was handed out before (its first holder stopped or died first).</param>
public sealed record GrainCall(string Method, JsonPayload Data, string MessageId, bool Redelivered);

/// <summary>Why an activation ends.</summary>
public enum DeactivationReason
{
    /// <summary>It was idle longer than the collection age.</summary>
    Idle,

    /// <summary>The grain asked for it (<see cref="Grain.DeactivateOnIdle"/>).</summary>
    Requested,

    /// <summary>Its silo is shutting down, or handed the grain's shard to another silo.</summary>
    ShardHandedOver,

    /// <summary>Its silo lost the shard's lease (it can no longer write state); the grain should not try to write.</summary>
    ShardLost,
}

/// <summary>A virtual actor: code bound to a <see cref="GrainId"/>, activated on demand, one turn at a time.</summary>
/// <remarks>
/// Subclasses get a parameterless constructor or are built by the factory registered with <see cref="GrainTypes"/>.
/// Every member below runs inside a turn of this activation: no two run at once (unless the type is registered as
/// reentrant, when turns may interleave at awaits), so grain code needs no locks.
/// </remarks>
public abstract class Grain
{
    private Activation? _activation;

    /// <summary>This grain's identity.</summary>
    public GrainId Id => Activation.Id;

    /// <summary>Calls other grains.</summary>
    protected IGrainClient Grains => Activation.Runtime.Client;

    /// <summary>The process's message bus (signals, services), for grains that talk to more than grains.</summary>
    protected Bus.MessageBus Bus => Activation.Runtime.Bus;

    /// <summary>The clock of the runtime (tests inject a manual one).</summary>
    protected TimeProvider Time => Activation.Runtime.Time;

    internal Activation Activation =>
        _activation ?? throw new InvalidOperationException("this grain is not activated: only the runtime creates activations");

    /// <summary>Runs once per activation before any call (after persistent state was read).</summary>
    public virtual ValueTask OnActivateAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Runs once when the activation ends (not after a crash, and not when the shard was lost).</summary>
    public virtual ValueTask OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Handles one call and returns its reply; an exception becomes a 500 reply naming its message.</summary>
    public abstract ValueTask<Message> ReceiveAsync(GrainCall call, CancellationToken cancellationToken);

    /// <summary>Handles a durable reminder that is due (see <see cref="RegisterReminderAsync"/>).</summary>
    public virtual ValueTask ReceiveReminderAsync(string name, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Starts an in-memory timer whose callback runs as a turn of this activation; it ends with the
    /// activation or when the result is disposed. Timer ticks do not keep an idle grain alive.</summary>
    protected IDisposable RegisterTimer(Func<CancellationToken, ValueTask> callback, TimeSpan dueTime, TimeSpan period) =>
        Activation.RegisterTimer(callback, dueTime, period);

    /// <summary>Registers or replaces a durable reminder: <see cref="ReceiveReminderAsync"/> is called at
    /// <paramref name="dueTime"/> from now and then every <paramref name="period"/>, activating the grain if needed, on
    /// whichever silo owns its shard. A reminder missed while no silo ran fires once on recovery.</summary>
    protected Task RegisterReminderAsync(string name, TimeSpan dueTime, TimeSpan period, CancellationToken cancellationToken = default) =>
        Activation.Runtime.Reminders.RegisterAsync(Activation, name, dueTime, period, cancellationToken);

    /// <summary>Removes a durable reminder; false when there was none of that name.</summary>
    protected Task<bool> UnregisterReminderAsync(string name, CancellationToken cancellationToken = default) =>
        Activation.Runtime.Reminders.UnregisterAsync(Activation, name, cancellationToken);

    /// <summary>Ends this activation once the current turn is over; the next call activates the grain again.</summary>
    protected void DeactivateOnIdle() => Activation.RequestDeactivation();

    internal void Attach(Activation activation) => _activation = activation;

    /// <summary>Reads persistent state (overridden by <see cref="Grain{TState}"/>).</summary>
    internal virtual Task LoadStateAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
