using Orleans.Concurrency;

namespace Trellis.Grains.Flows;

/// <summary>The participants known and the graphs. Reentrant: every call changes or reads the state before its first
/// await, so calls interleave safely, and a burst of announcements is not queued behind each write of the whole list
/// or behind a listing that asks every participant grain. Writes are grouped: changes made while a write is in flight
/// go out together in the next one, and each caller returns once a write holding its change has completed.</summary>
[Reentrant]
internal sealed class FlowDirectoryGrain([PersistentState("flows")] IPersistentState<FlowDirectoryState> state) : Grain, IFlowDirectoryGrain
{
    // Identifies this activation's change count, so a graph never mistakes a count of an earlier activation for news.
    private readonly Guid _epoch = Guid.NewGuid();
    private long _changes;
    private long _saved;
    private Task _writing = Task.CompletedTask;

    public async Task Upsert(string participantId, string role, string payload)
    {
        var list = state.State.Participants;
        list.RemoveAll(e => e.Id == participantId);
        list.Add(new FlowDirectoryEntry(participantId, role, payload));
        await SaveAsync();
        var version = new FlowDirectoryVersion(_epoch, _changes);
        foreach (var graph in state.State.Graphs)
        {
            // One-way: a graph asks this grain for the definitions while it rewires, and skips notices it is past.
            _ = GrainFactory.GetGrain<IFlowGraphGrain>(graph).ParticipantsChanged(version);
        }
    }

    public async Task<FlowParticipantEntry[]> Participants()
    {
        var entries = await Task.WhenAll(state.State.Participants.Select(e => GrainFactory.GetGrain<IFlowParticipantGrain>(e.Id).Get()));
        return [.. entries.OfType<FlowParticipantEntry>()];
    }

    public Task<FlowDirectoryVersion> Version() => Task.FromResult(new FlowDirectoryVersion(_epoch, _changes));

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
        return SaveAsync();
    }

    public Task<string[]> Graphs() => Task.FromResult(state.State.Graphs.ToArray());

    /// <summary>Persists the change just made: joins the next write when one is in flight (group commit).</summary>
    private async Task SaveAsync()
    {
        var mine = ++_changes;
        while (_saved < mine)
        {
            if (!_writing.IsCompleted)
            {
                try
                {
                    await _writing;
                }
                catch (Exception)
                {
                    // That write's callers get its failure; this change goes out in the next one.
                }

                continue;
            }

            var upTo = _changes;
            _writing = state.WriteStateAsync();
            await _writing;
            _saved = Math.Max(_saved, upTo);
        }
    }
}
