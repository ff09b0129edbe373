namespace Trellis.Core.Nodes;

/// <summary>Keeps node registrations so they come back after a gateway restart.</summary>
/// <remarks>Writes are rare (registration, subscription changes, status changes) and whole records are saved,
/// so one upsert covers them all.</remarks>
public interface INodeStore : IAsyncDisposable
{
    /// <summary>Inserts or replaces the record with the same id; durable when the task completes.</summary>
    ValueTask SaveAsync(NodeRecord node, CancellationToken cancellationToken = default);

    /// <summary>Removes a record; false when there was none.</summary>
    ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default);

    ValueTask<NodeRecord?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Every record, oldest first.</summary>
    ValueTask<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken cancellationToken = default);
}
