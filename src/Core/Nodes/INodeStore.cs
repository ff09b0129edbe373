namespace Trellis.Core.Nodes;

/// <summary>Keeps node registrations for the cluster, so they survive restarts and any gateway can find a node and its token.</summary>
/// <remarks>Writes are rare (registration, subscription changes, status changes) and whole records are saved,
/// so one upsert covers them all. The store belongs to one gateway: what it saves is served by that gateway.</remarks>
public interface INodeStore : IAsyncDisposable
{
    /// <summary>Inserts or replaces the record with the same id, as served by this store's gateway; durable when the task completes.</summary>
    ValueTask SaveAsync(NodeRecord node, CancellationToken cancellationToken = default);

    /// <summary>Removes a record; false when there was none.</summary>
    ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default);

    ValueTask<NodeRecord?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Every record of the cluster, oldest first.</summary>
    ValueTask<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>The records this store's gateway serves, oldest first (what it restores after a restart).</summary>
    ValueTask<IReadOnlyList<NodeRecord>> ListOwnedAsync(CancellationToken cancellationToken = default);

    /// <summary>The id of the node whose token has this SHA-256, or null.</summary>
    ValueTask<string?> FindByTokenHashAsync(byte[] tokenHash, CancellationToken cancellationToken = default);
}
