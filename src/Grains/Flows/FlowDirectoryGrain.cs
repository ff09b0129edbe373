namespace Trellis.Grains.Flows;

internal sealed class FlowDirectoryGrain([PersistentState("flows")] IPersistentState<FlowDirectoryState> state) : Grain, IFlowDirectoryGrain
{
    public async Task Upsert(string participantId, string role, string payload)
    {
        var list = state.State.Participants;
        list.RemoveAll(e => e.Id == participantId);
        list.Add(new FlowDirectoryEntry(participantId, role, payload));
        await state.WriteStateAsync();
        foreach (var graph in state.State.Graphs)
        {
            // One-way: a graph asks this grain for the definitions while it rewires.
            _ = GrainFactory.GetGrain<IFlowGraphGrain>(graph).ParticipantsChanged();
        }
    }

    public async Task<FlowParticipantEntry[]> Participants()
    {
        var entries = await Task.WhenAll(state.State.Participants.Select(e => GrainFactory.GetGrain<IFlowParticipantGrain>(e.Id).Get()));
        return [.. entries.OfType<FlowParticipantEntry>()];
    }

    public Task<Dictionary<string, string>> DefinitionsByRole()
    {
        // Later entries changed last: the latest definition of a role wins.
        var byRole = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in state.State.Participants)
        {
            byRole[e.Role] = e.Payload;
        }

        return Task.FromResult(byRole);
    }

    public Task AddGraph(string graph)
    {
        if (state.State.Graphs.Contains(graph))
        {
            return Task.CompletedTask;
        }

        state.State.Graphs.Add(graph);
        return state.WriteStateAsync();
    }

    public Task<string[]> Graphs() => Task.FromResult(state.State.Graphs.ToArray());
}
