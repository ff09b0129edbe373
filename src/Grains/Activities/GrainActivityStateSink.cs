using Trellis.Flows.Activities;

namespace Trellis.Grains.Activities;

/// <summary>Reports a host's activity states to their grains (how a silo-hosted host, or the HTTP endpoint for a CLI
/// host, tells the cluster where each activity runs).</summary>
public sealed class GrainActivityStateSink(IGrainFactory grains, Func<Guid, InstalledActivity?> activities) : IActivityStateSink
{
    public async ValueTask ReportAsync(ActivityRunState state, CancellationToken cancellationToken)
    {
        var installed = activities(state.ActivityId);
        await Report(grains, state, installed?.Manifest.ToJson().ToJsonString(), installed?.Tags.ToArray() ?? []);
    }

    public static Task Report(IGrainFactory grains, ActivityRunState state, string? manifest, string[] tags) =>
        grains.GetGrain<IActivityGrain>(state.ActivityId).Report(manifest, tags, ToRun(state));

    public static ActivityHostRun ToRun(ActivityRunState state) =>
        new(state.Host, state.Status.ToString().ToLowerInvariant(), state.Pid, state.Restarts, state.LastError, state.Changed, state.Role, state.ReportInterval);
}
