namespace Trellis.Grains.Activities;

[GenerateSerializer]
internal sealed class ActivityGrainState
{
    [Id(0)] public string? Manifest { get; set; }

    [Id(1)] public string[] Tags { get; set; } = [];

    [Id(2)] public Dictionary<string, ActivityHostRun> Hosts { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class ActivityGrain([PersistentState("activity")] IPersistentState<ActivityGrainState> state) : Grain, IActivityGrain
{
    public async Task Report(string? manifest, string[] tags, ActivityHostRun run)
    {
        var first = state.State.Manifest is null && state.State.Hosts.Count == 0;
        if (manifest is not null)
        {
            state.State.Manifest = manifest;
        }

        state.State.Tags = tags;
        if (!state.State.Hosts.TryGetValue(run.Host, out var previous) || previous.Changed <= run.Changed)
        {
            state.State.Hosts[run.Host] = run;
        }

        await state.WriteStateAsync();
        if (first)
        {
            await GrainFactory.GetGrain<IActivityDirectoryGrain>(IActivityDirectoryGrain.Key).Add(this.GetPrimaryKey());
        }
    }

    public Task<ActivityRecord?> Get() => Task.FromResult(
        state.State.Manifest is null && state.State.Hosts.Count == 0
            ? null
            : new ActivityRecord(this.GetPrimaryKey(), state.State.Manifest, state.State.Tags, [.. state.State.Hosts.Values.OrderBy(static h => h.Host, StringComparer.Ordinal)]));

    public async Task ForgetHost(string host)
    {
        if (state.State.Hosts.Remove(host))
        {
            await state.WriteStateAsync();
        }
    }
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
