namespace Trellis.Core.Persistence;

/// <summary>The reminder table in process memory.</summary>
public sealed class InMemoryReminderTable : IReminderTable
{
    private readonly Dictionary<(string Type, string Key, string Name), ReminderEntry> _rows = [];
    private readonly Lock _sync = new();

    public Task UpsertAsync(ReminderEntry reminder, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Reminder(reminder);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            _rows[(reminder.GrainType, reminder.GrainKey, reminder.Name)] = reminder;
        }

        return Task.CompletedTask;
    }

    public Task<bool> RemoveAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            return Task.FromResult(_rows.Remove((grainType, grainKey, name)));
        }
    }

    public Task<ReminderEntry?> ReadAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            return Task.FromResult(_rows.GetValueOrDefault((grainType, grainKey, name)));
        }
    }

    public Task<IReadOnlyList<ReminderEntry>> ReadByGrainAsync(string grainType, string grainKey, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        return Select(r => r.GrainType == grainType && r.GrainKey == grainKey, cancellationToken);
    }

    public Task<IReadOnlyList<ReminderEntry>> ReadByShardAsync(int shard, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Shard(shard);
        return Select(r => r.Shard == shard, cancellationToken);
    }

    public Task<IReadOnlyList<ReminderEntry>> ReadByShardRangeAsync(int fromShard, int toShard, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.ShardRange(fromShard, toShard);
        return Select(r => r.Shard >= fromShard && r.Shard < toShard, cancellationToken);
    }

    public Task<bool> MarkFiredAsync(string grainType, string grainKey, string name, DateTimeOffset firedAt, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            if (!_rows.TryGetValue((grainType, grainKey, name), out var row))
            {
                return Task.FromResult(false);
            }

            _rows[(grainType, grainKey, name)] = row with { LastFiredAt = firedAt };
            return Task.FromResult(true);
        }
    }

    private Task<IReadOnlyList<ReminderEntry>> Select(Func<ReminderEntry, bool> match, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            IReadOnlyList<ReminderEntry> found = _rows.Values
                .Where(match)
                .OrderBy(static r => r.Shard)
                .ThenBy(static r => r.GrainType, StringComparer.Ordinal)
                .ThenBy(static r => r.GrainKey, StringComparer.Ordinal)
                .ThenBy(static r => r.Name, StringComparer.Ordinal)
                .ToArray();
            return Task.FromResult(found);
        }
    }
}
