namespace Trellis.Flows.Activities;

/// <summary>Where a supervised activity stands on its host.</summary>
public enum ActivityRunStatus
{
    /// <summary>The process is being started.</summary>
    Starting,

    /// <summary>The process runs and consumes its inqueues.</summary>
    Running,

    /// <summary>The process ended or could not start; the host waits out the back-off and starts it again.</summary>
    Restarting,

    /// <summary>The host stopped it (disabled, or the host shut down).</summary>
    Stopped,
}

/// <summary>An activity's state on one host, as reported to its grain and the log.</summary>
/// <param name="Restarts">How many times it crashed (or failed to start) since the host began supervising it.</param>
/// <param name="LastError">Why it last ended or failed to start (exit code, signal, the start error).</param>
public sealed record ActivityRunState(
    Guid ActivityId,
    string Name,
    string Role,
    string Host,
    ActivityRunStatus Status,
    int? Pid,
    int Restarts,
    string? LastError,
    DateTimeOffset Changed)
{
    /// <summary>How often the host reports this state again while it holds (zero: only on changes); the cluster shows the
    /// activity <c>offline</c> on a host that missed <see cref="ActivityHostOptions.MissedReports"/> reports.</summary>
    public TimeSpan ReportInterval { get; init; }
}

/// <summary>Receives each state change of the activities a host supervises (the activity's grain in a silo, a log
/// otherwise). A failing sink is logged and does not disturb the activity.</summary>
public interface IActivityStateSink
{
    ValueTask ReportAsync(ActivityRunState state, CancellationToken cancellationToken);
}

/// <summary>Options of an activity host.</summary>
public sealed class ActivityHostOptions
{
    /// <summary>Names this host in participant ids (<c>&lt;role&gt;-&lt;host&gt;</c>) and in reported states.</summary>
    public string HostId { get; set; } = $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Deliveries handed to one activity before it answers (msgflo's default is 2).</summary>
    public int Prefetch { get; set; } = 64;

    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A process up this long resets the back-off to <see cref="InitialBackoff"/>.</summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The discovery period: each activity is announced on <c>fbp</c> every period / 2.2, as msgflo-nodejs does.</summary>
    public TimeSpan DiscoveryPeriod { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>What becomes of the messages an activity held when it crashed: false (default) rejects them to the
    /// queue's dead-letter exchange, so a message that kills its activity cannot kill it forever; true puts them back.</summary>
    public bool RequeueOnCrash { get; set; }

    /// <summary>The number of missed reports after which the cluster counts an activity's host offline.</summary>
    public const int MissedReports = 3;

    /// <summary>How often the host reports each activity's state again, so the cluster can tell a host that is gone
    /// (shown <c>offline</c> after <see cref="MissedReports"/> missed reports); zero reports only changes.</summary>
    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a stopping activity gets, after its stdin is closed, to answer what it holds before it is killed.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
