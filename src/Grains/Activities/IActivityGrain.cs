using Orleans.Concurrency;

namespace Trellis.Grains.Activities;

/// <summary>An activity of the cluster, keyed by its id: its manifest, whether a host has it enabled, its tags, and
/// where it runs — per host its state, pid, restarts, last error and last change, as the hosts report them.</summary>
public interface IActivityGrain : IGrainWithGuidKey
{
    /// <summary>A host's report: the activity's manifest (JSON, as in <c>activity.json</c>), its tags there, and its state.</summary>
    Task Report(string? manifest, string[] tags, ActivityHostRun run);

    /// <summary>The activity, or null when no host ever reported it; a host that missed its reports shows offline.</summary>
    [AlwaysInterleave]
    Task<ActivityRecord?> Get();

    /// <summary>Forgets a host (it stopped reporting, or was removed).</summary>
    Task ForgetHost(string host);
}

/// <summary>The list of activities hosts reported (one grain, key <see cref="Key"/>), for <c>GET /activities</c>.</summary>
public interface IActivityDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "activities";

    Task Add(Guid activityId);

    [AlwaysInterleave]
    Task<Guid[]> List();
}

/// <summary>The activity on one host.</summary>
/// <param name="Status">starting, running, restarting or stopped as reported; <see cref="Offline"/> when the host missed
/// <see cref="Trellis.Flows.Activities.ActivityHostOptions.MissedReports"/> reports.</param>
/// <param name="ReportInterval">How often the host reports again (zero: only on changes, and never counted offline).</param>
[GenerateSerializer, Immutable]
public sealed record ActivityHostRun(
    [property: Id(0)] string Host,
    [property: Id(1)] string Status,
    [property: Id(2)] int? Pid,
    [property: Id(3)] int Restarts,
    [property: Id(4)] string? LastError,
    [property: Id(5)] DateTimeOffset Changed,
    [property: Id(6)] string Role,
    [property: Id(7)] TimeSpan ReportInterval = default)
{
    /// <summary>The status shown for a host that stopped reporting.</summary>
    public const string Offline = "offline";
}

/// <summary>An activity as the cluster knows it. <see cref="Enabled"/>: some host runs it (its state there is neither
/// stopped nor offline).</summary>
[GenerateSerializer, Immutable]
public sealed record ActivityRecord(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string? Manifest,
    [property: Id(2)] string[] Tags,
    [property: Id(3)] ActivityHostRun[] Hosts)
{
    public bool Enabled => Hosts.Any(static h => h.Status is not ("stopped" or ActivityHostRun.Offline));
}
