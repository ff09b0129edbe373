namespace Trellis.Core.Persistence;

/// <summary>Durable reminders, keyed by (grain type, grain key, name) and readable by shard so they move with shard ownership.</summary>
/// <remarks>
/// The table only keeps what the runtime needs; the runtime does the firing. To fire a missed reminder once on
/// recovery, the shard owner loads the shard's reminders, fires each one that <see cref="ReminderEntry.IsDueAt"/> now,
/// and records it with <see cref="MarkFiredAsync"/>.
/// </remarks>
public interface IReminderTable
{
    /// <summary>Inserts or replaces a reminder exactly as given (including <see cref="ReminderEntry.LastFiredAt"/>).</summary>
    Task UpsertAsync(ReminderEntry reminder, CancellationToken cancellationToken = default);

    /// <summary>Deletes a reminder; returns false when it did not exist.</summary>
    Task<bool> RemoveAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default);

    /// <summary>Reads one reminder, or null.</summary>
    Task<ReminderEntry?> ReadAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default);

    /// <summary>Reads the reminders of one grain, ordered by name.</summary>
    Task<IReadOnlyList<ReminderEntry>> ReadByGrainAsync(string grainType, string grainKey, CancellationToken cancellationToken = default);

    /// <summary>Reads the reminders of one shard, ordered by grain type, key and name.</summary>
    Task<IReadOnlyList<ReminderEntry>> ReadByShardAsync(int shard, CancellationToken cancellationToken = default);

    /// <summary>Reads the reminders of shards in [<paramref name="fromShard"/>, <paramref name="toShard"/>), ordered by shard, grain type, key and name.</summary>
    Task<IReadOnlyList<ReminderEntry>> ReadByShardRangeAsync(int fromShard, int toShard, CancellationToken cancellationToken = default);

    /// <summary>Records that the reminder fired at <paramref name="firedAt"/>; returns false when it no longer exists.</summary>
    Task<bool> MarkFiredAsync(string grainType, string grainKey, string name, DateTimeOffset firedAt, CancellationToken cancellationToken = default);
}
