namespace Trellis.Grains.Nodes;

/// <summary>A node's registration, keyed by the node id: the record (JSON of <see cref="Core.Nodes.NodeRecord"/>) and the
/// gateway that serves the node.</summary>
public interface INodeGrain : IGrainWithStringKey
{
    Task<NodeEntry?> Get();

    Task Save(NodeEntry entry);

    /// <summary>Removes the registration; false when there was none.</summary>
    Task<bool> Delete();
}

/// <summary>Which node a token belongs to, keyed by the hex SHA-256 of the token: the cluster-wide token lookup that lets
/// any gateway accept any node's token.</summary>
public interface INodeTokenGrain : IGrainWithStringKey
{
    Task<string?> Node();

    Task Set(string nodeId);

    /// <summary>Forgets the token if it still belongs to <paramref name="nodeId"/>.</summary>
    Task Clear(string nodeId);
}

/// <summary>The ids of every registered node (one grain, key <see cref="Key"/>): registrations are rare, listings rarer.</summary>
public interface INodeDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "nodes";

    Task Add(string nodeId);

    Task Remove(string nodeId);

    Task<string[]> List();
}

/// <summary>A stored registration.</summary>
[GenerateSerializer, Immutable]
public sealed record NodeEntry([property: Id(0)] string Record, [property: Id(1)] string Gateway);

/// <summary>The state of a <see cref="INodeGrain"/>.</summary>
[GenerateSerializer]
public sealed class NodeGrainState
{
    [Id(0)]
    public NodeEntry? Entry { get; set; }
}

/// <summary>The state of a <see cref="INodeTokenGrain"/>.</summary>
[GenerateSerializer]
public sealed class NodeTokenState
{
    [Id(0)]
    public string? NodeId { get; set; }
}

/// <summary>The state of the <see cref="INodeDirectoryGrain"/>.</summary>
[GenerateSerializer]
public sealed class NodeDirectoryState
{
    [Id(0)]
    public List<string> Ids { get; set; } = [];
}

internal sealed class NodeGrain([PersistentState("node")] IPersistentState<NodeGrainState> state) : Grain, INodeGrain
{
    public Task<NodeEntry?> Get() => Task.FromResult(state.State.Entry);

    public Task Save(NodeEntry entry)
    {
        state.State.Entry = entry;
        return state.WriteStateAsync();
    }

    public async Task<bool> Delete()
    {
        if (state.State.Entry is null)
        {
            return false;
        }

        await state.ClearStateAsync();
        state.State = new NodeGrainState();
        DeactivateOnIdle();
        return true;
    }
}

internal sealed class NodeTokenGrain([PersistentState("token")] IPersistentState<NodeTokenState> state) : Grain, INodeTokenGrain
{
    public Task<string?> Node() => Task.FromResult(state.State.NodeId);

    public Task Set(string nodeId)
    {
        if (state.State.NodeId == nodeId)
        {
            return Task.CompletedTask;
        }

        state.State.NodeId = nodeId;
        return state.WriteStateAsync();
    }

    public async Task Clear(string nodeId)
    {
        if (state.State.NodeId == nodeId)
        {
            await state.ClearStateAsync();
            state.State = new NodeTokenState();
            DeactivateOnIdle();
        }
    }
}

internal sealed class NodeDirectoryGrain([PersistentState("directory")] IPersistentState<NodeDirectoryState> state) : Grain, INodeDirectoryGrain
{
    public Task Add(string nodeId)
    {
        if (state.State.Ids.Contains(nodeId))
        {
            return Task.CompletedTask;
        }

        state.State.Ids.Add(nodeId);
        return state.WriteStateAsync();
    }

    public Task Remove(string nodeId) => state.State.Ids.Remove(nodeId) ? state.WriteStateAsync() : Task.CompletedTask;

    public Task<string[]> List() => Task.FromResult(state.State.Ids.ToArray());
}
