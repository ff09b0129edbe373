using System.Collections.Concurrent;

namespace Trellis.Core.Nodes;

/// <summary>Node registrations in process memory: nothing survives a restart; for tests and experiments.</summary>
public sealed class InMemoryNodeStore : INodeStore
{
    private readonly ConcurrentDictionary<string, NodeRecord> _nodes = new(StringComparer.Ordinal);

    public ValueTask SaveAsync(NodeRecord node, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        cancellationToken.ThrowIfCancellationRequested();
        _nodes[node.Id] = node;
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_nodes.TryRemove(id, out _));
    }

    public ValueTask<NodeRecord?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_nodes.GetValueOrDefault(id));
    }

    public ValueTask<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        IReadOnlyList<NodeRecord> all = _nodes.Values.OrderBy(static n => n.Created).ThenBy(static n => n.Id, StringComparer.Ordinal).ToArray();
        return ValueTask.FromResult(all);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
