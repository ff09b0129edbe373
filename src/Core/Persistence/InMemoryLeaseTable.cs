namespace Trellis.Core.Persistence;

/// <summary>Shard leases in process memory; expiry is decided by the injected <see cref="TimeProvider"/>.</summary>
public sealed class InMemoryLeaseTable : ILeaseTable
{
    private readonly Dictionary<int, Lease> _rows = [];
    private readonly TimeProvider _time;

    public InMemoryLeaseTable(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <summary>Guards the lease rows; the in-memory grain storage holds it while it checks a fence and writes, like a SQL transaction would.</summary>
    internal Lock Sync { get; } = new();

    public Task<Lease?> TryAcquireAsync(int shard, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Shard(shard);
        PersistenceGuard.Text(owner, PersistenceGuard.MaxOwnerLength);
        PersistenceGuard.Ttl(ttl);
        cancellationToken.ThrowIfCancellationRequested();

        lock (Sync)
        {
            var now = _time.GetUtcNow();
            Lease granted;
            if (!_rows.TryGetValue(shard, out var row))
            {
                granted = new Lease(shard, owner, 1, now + ttl);
            }
            else if (row.IsHeldAt(now))
            {
                if (row.Owner != owner)
                {
                    return Task.FromResult<Lease?>(null);
                }

                granted = row with { ExpiresAt = now + ttl };
            }
            else
            {
                granted = new Lease(shard, owner, row.Epoch + 1, now + ttl);
            }

            _rows[shard] = granted;
            return Task.FromResult<Lease?>(granted);
        }
    }

    public Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Lease(lease);
        PersistenceGuard.Ttl(ttl);
        cancellationToken.ThrowIfCancellationRequested();

        lock (Sync)
        {
            var now = _time.GetUtcNow();
            if (!_rows.TryGetValue(lease.Shard, out var row) || row.Owner != lease.Owner || row.Epoch != lease.Epoch || !row.IsHeldAt(now))
            {
                return Task.FromResult<Lease?>(null);
            }

            var renewed = row with { ExpiresAt = now + ttl };
            _rows[lease.Shard] = renewed;
            return Task.FromResult<Lease?>(renewed);
        }
    }

    public Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Lease(lease);
        cancellationToken.ThrowIfCancellationRequested();

        lock (Sync)
        {
            if (!_rows.TryGetValue(lease.Shard, out var row) || row.Owner != lease.Owner || row.Epoch != lease.Epoch)
            {
                return Task.FromResult(false);
            }

            _rows[lease.Shard] = row with { Owner = "", ExpiresAt = _time.GetUtcNow() };
            return Task.FromResult(true);
        }
    }

    public Task<LeaseSnapshot> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (Sync)
        {
            var leases = _rows.Values.OrderBy(static l => l.Shard).ToArray();
            return Task.FromResult(new LeaseSnapshot(leases, _time.GetUtcNow()));
        }
    }

    /// <summary>Checks a fence against the current row; call while holding <see cref="Sync"/>.</summary>
    internal void CheckFence(FenceToken fence)
    {
        if (!_rows.TryGetValue(fence.Shard, out var row))
        {
            throw new StaleEpochException(fence, null, null);
        }

        if (row.Owner != fence.Owner || row.Epoch != fence.Epoch)
        {
            throw new StaleEpochException(fence, row.Owner, row.Epoch);
        }
    }
}
