namespace Trellis.Edge.Activities;

/// <summary>Where an activity the agent supervises stands: <c>starting</c>, <c>running</c>, <c>restarting</c> (waiting
/// out the back-off after it ended or could not start) or <c>stopped</c> (disabled, or the agent stops), as a silo's host
/// reports it.</summary>
/// <param name="Restarts">How many times it crashed (or failed to start) since the agent began supervising it.</param>
/// <param name="LastError">Why it last ended or failed to start (exit code, signal, the start error).</param>
public sealed record ActivityState(
    Guid Id, string Name, string Version, string Role, string Status, int? Pid, int Restarts, string? LastError, DateTimeOffset Changed)
{
    public const string Starting = "starting";
    public const string Running = "running";
    public const string Restarting = "restarting";
    public const string Stopped = "stopped";
}

/// <summary>Where the activities' answers go: the link to the gateway, which publishes outputs on the flow broker and
/// acknowledges deliveries. Called in the order the activity wrote its lines.</summary>
public interface IActivityOutlet
{
    /// <summary>The activity wrote <paramref name="data"/> (JSON) on outport <paramref name="port"/>, answering
    /// <paramref name="deliveryId"/> (null for output that answers nothing).</summary>
    ValueTask OutputAsync(Guid activityId, string port, ReadOnlyMemory<byte> data, string? deliveryId);

    /// <summary>The activity is done with a delivery: acknowledged when <paramref name="error"/> is null, otherwise rejected
    /// (back on its queue when <paramref name="requeue"/>).</summary>
    ValueTask DoneAsync(Guid activityId, string deliveryId, string? error, bool requeue);
}

/// <summary>How the agent supervises activities (the defaults are a silo's host's).</summary>
public sealed record ActivityHostSettings
{
    /// <summary>The first wait before a crashed activity is started again; it doubles up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A process up this long resets the back-off to <see cref="InitialBackoff"/>.</summary>
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a stopping activity gets, after its stdin is closed, to answer what it holds before it is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the home is read again to follow enable and disable.</summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>What becomes of the messages a crashed activity held: false rejects them (to the queue's dead-letter
    /// exchange, so a message that kills its activity cannot kill it forever), true puts them back.</summary>
    public bool RequeueOnCrash { get; init; }
}
