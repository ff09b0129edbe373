namespace Trellis.Grains.Activities;

[GenerateSerializer]
internal sealed class ActivityGrainState
{
    [Id(0)] public string? Manifest { get; set; }

    [Id(1)] public string[] Tags { get; set; } = [];

    [Id(2)] public Dictionary<string, ActivityHostRun> Hosts { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>An activity's grain. When each host last reported is kept in memory only (a report that changes nothing is
/// not written): on activation every known host counts as just seen, so one that is gone shows offline after its missed
/// reports.</summary>
internal sealed class ActivityGrain(
    [PersistentState("activity")] IPersistentState<ActivityGrainState> state,
    TimeProvider? time = null) : Grain, IActivityGrain
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, long> _seen = new(StringComparer.Ordinal);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        foreach (var host in state.State.Hosts.Keys)
        {
            _seen[host] = now;
        }

        return Task.CompletedTask;
    }

    public async Task Report(string? manifest, string[] tags, ActivityHostRun run)
    {
        _seen[run.Host] = _time.GetTimestamp();
        var first = state.State.Manifest is null && state.State.Hosts.Count == 0;
        var changed = false;
        if (manifest is not null && manifest != state.State.Manifest)
        {
            state.State.Manifest = manifest;
            changed = true;
        }

        if (!state.State.Tags.SequenceEqual(tags, StringComparer.Ordinal))
        {
            state.State.Tags = tags;
            changed = true;
        }

        if (!state.State.Hosts.TryGetValue(run.Host, out var previous) || (previous.Changed <= run.Changed && previous != run))
        {
            state.State.Hosts[run.Host] = run;
            changed = true;
        }

        if (changed)
        {
            await state.WriteStateAsync();
        }

        if (first)
        {
            await GrainFactory.GetGrain<IActivityDirectoryGrain>(IActivityDirectoryGrain.Key).Add(this.GetPrimaryKey());
        }
    }

    public Task<ActivityRecord?> Get() => Task.FromResult(
        state.State.Manifest is null && state.State.Hosts.Count == 0
            ? null
            : new ActivityRecord(this.GetPrimaryKey(), state.State.Manifest, state.State.Tags, [.. state.State.Hosts.Values.OrderBy(static h => h.Host, StringComparer.Ordinal).Select(Shown)]));

    public async Task ForgetHost(string host)
    {
        _seen.Remove(host);
        if (state.State.Hosts.Remove(host))
        {
            await state.WriteStateAsync();
        }
    }

    /// <summary>The run as reported, or offline when its host missed its reports (a stopped run stays stopped).</summary>
    private ActivityHostRun Shown(ActivityHostRun run) =>
        run.ReportInterval > TimeSpan.Zero
        && run.Status != "stopped"
        && _seen.TryGetValue(run.Host, out var seen)
        && _time.GetElapsedTime(seen) > run.ReportInterval * Trellis.Flows.Activities.ActivityHostOptions.MissedReports
            ? run with { Status = ActivityHostRun.Offline, Pid = null }
            : run;
}

[GenerateSerializer]
internal sealed class ActivityDirectoryState
{
    [Id(0)] public HashSet<Guid> Ids { get; set; } = [];
}

internal sealed class ActivityDirectoryGrain([PersistentState("activities")] IPersistentState<ActivityDirectoryState> state) : Grain, IActivityDirectoryGrain
{
    public async Task Add(Guid activityId)
    {
        if (state.State.Ids.Add(activityId))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<Guid[]> List() => Task.FromResult(state.State.Ids.Order().ToArray());
}
