namespace Trellis.Core.Persistence;

/// <summary>Grain state in process memory, fenced by an <see cref="InMemoryLeaseTable"/>; "durable" for the life of the process.</summary>
public sealed class InMemoryGrainStorage : IGrainStorage
{
    private readonly Dictionary<(string Type, string Key), StoredState> _rows = [];
    private readonly InMemoryLeaseTable _leases;
    private readonly int _maxStateBytes;

    public InMemoryGrainStorage(InMemoryLeaseTable leases, GrainStorageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(leases);
        options ??= new GrainStorageOptions();
        options.Validate();
        _leases = leases;
        _maxStateBytes = options.MaxStateBytes;
    }

    public Task<StoredState> ReadAsync(string grainType, string grainKey, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        cancellationToken.ThrowIfCancellationRequested();

        lock (_leases.Sync)
        {
            if (!_rows.TryGetValue((grainType, grainKey), out var row))
            {
                return Task.FromResult(default(StoredState));
            }

            // Hand out a copy: the caller owns what it reads and must not be able to change what is stored.
            return Task.FromResult(row with { Data = row.Data?.ToArray() });
        }
    }

    public Task<long> WriteAsync(string grainType, string grainKey, ReadOnlyMemory<byte> state, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.State(state, _maxStateBytes);
        PersistenceGuard.Version(expectedVersion);
        PersistenceGuard.Fence(fence);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Apply(grainType, grainKey, state.ToArray(), expectedVersion, fence));
    }

    public Task<long> ClearAsync(string grainType, string grainKey, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Version(expectedVersion);
        PersistenceGuard.Fence(fence);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Apply(grainType, grainKey, null, expectedVersion, fence));
    }

    private long Apply(string grainType, string grainKey, byte[]? data, long expectedVersion, FenceToken fence)
    {
        lock (_leases.Sync)
        {
            _leases.CheckFence(fence);
            var current = _rows.GetValueOrDefault((grainType, grainKey));
            if (current.Version != expectedVersion)
            {
                throw new InconsistentStateException(grainType, grainKey, expectedVersion, current.Version);
            }

            var next = new StoredState(data, expectedVersion + 1);
            _rows[(grainType, grainKey)] = next;
            return next.Version;
        }
    }
}
