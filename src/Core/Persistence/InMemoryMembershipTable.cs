namespace Trellis.Core.Persistence;

/// <summary>The membership table in process memory; times come from the injected <see cref="TimeProvider"/>.</summary>
public sealed class InMemoryMembershipTable : IMembershipTable
{
    private readonly Dictionary<string, SiloEntry> _rows = new(StringComparer.Ordinal);
    private readonly Lock _sync = new();
    private readonly TimeProvider _time;

    public InMemoryMembershipTable(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    public Task<SiloEntry> JoinAsync(string siloId, string address, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        PersistenceGuard.Text(address, PersistenceGuard.MaxAddressLength);
        cancellationToken.ThrowIfCancellationRequested();

        lock (_sync)
        {
            var now = _time.GetUtcNow();
            SiloEntry entry;
            if (_rows.TryGetValue(siloId, out var row))
            {
                if (row.Status == SiloStatus.Dead)
                {
                    throw new SiloDeclaredDeadException(siloId);
                }

                entry = row with { Address = address, LastHeartbeat = now };
            }
            else
            {
                entry = new SiloEntry(siloId, address, now, now, SiloStatus.Joining);
            }

            _rows[siloId] = entry;
            return Task.FromResult(entry);
        }
    }

    public Task<bool> HeartbeatAsync(string siloId, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        cancellationToken.ThrowIfCancellationRequested();

        lock (_sync)
        {
            if (!_rows.TryGetValue(siloId, out var row) || row.Status == SiloStatus.Dead)
            {
                return Task.FromResult(false);
            }

            _rows[siloId] = row with { LastHeartbeat = _time.GetUtcNow() };
            return Task.FromResult(true);
        }
    }

    public Task<bool> SetStatusAsync(string siloId, SiloStatus status, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        if (!Enum.IsDefined(status))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown silo status.");
        }

        cancellationToken.ThrowIfCancellationRequested();

        lock (_sync)
        {
            if (!_rows.TryGetValue(siloId, out var row) || row.Status == SiloStatus.Dead || status < row.Status)
            {
                return Task.FromResult(false);
            }

            _rows[siloId] = row with { Status = status };
            return Task.FromResult(true);
        }
    }

    public Task<bool> MarkDeadAsync(string siloId, CancellationToken cancellationToken = default)
        => SetStatusAsync(siloId, SiloStatus.Dead, cancellationToken);

    public Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            var silos = _rows.Values.OrderBy(static s => s.SiloId, StringComparer.Ordinal).ToArray();
            return Task.FromResult(new MembershipSnapshot(silos, _time.GetUtcNow()));
        }
    }

    public Task<int> RemoveDeadAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(olderThan, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();

        lock (_sync)
        {
            var cutoff = _time.GetUtcNow() - olderThan;
            var removed = 0;
            foreach (var row in _rows.Values.ToArray())
            {
                if (row.Status == SiloStatus.Dead && row.LastHeartbeat < cutoff && _rows.Remove(row.SiloId))
                {
                    removed++;
                }
            }

            return Task.FromResult(removed);
        }
    }
}
