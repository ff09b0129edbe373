using Npgsql;
using NpgsqlTypes;
using Trellis.Core.Persistence;
using static Trellis.Storage.Postgres.Internal.PostgresCommands;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>The reminder table in PostgreSQL; times are kept to the microsecond (timestamptz).</summary>
internal sealed class PostgresReminderTable(PostgresDatabase database) : IReminderTable
{
    public Task UpsertAsync(ReminderEntry reminder, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Reminder(reminder);
        NpgsqlParameter lastFired = reminder.LastFiredAt is { } fired
            ? Param(fired.ToUniversalTime())
            : new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz };
        return ExecuteAsync(
            database.DataSource,
            PostgresSql.UpsertReminder,
            cancellationToken,
            Param(reminder.GrainType),
            Param(reminder.GrainKey),
            Param(reminder.Name),
            Param(reminder.Shard),
            Param(reminder.StartAt.ToUniversalTime()),
            Param(reminder.Period.Ticks),
            lastFired);
    }

    public async Task<bool> RemoveAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        return await ExecuteAsync(database.DataSource, PostgresSql.RemoveReminder, cancellationToken, Param(grainType), Param(grainKey), Param(name)).ConfigureAwait(false) == 1;
    }

    public async Task<bool> MarkFiredAsync(string grainType, string grainKey, string name, DateTimeOffset firedAt, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        return await ExecuteAsync(database.DataSource, PostgresSql.MarkReminderFired, cancellationToken, Param(grainType), Param(grainKey), Param(name), Param(firedAt.ToUniversalTime())).ConfigureAwait(false) == 1;
    }

    public async Task<ReminderEntry?> ReadAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        var rows = await QueryAsync(database.DataSource, PostgresSql.ReadReminder, ToEntry, cancellationToken, Param(grainType), Param(grainKey), Param(name)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<IReadOnlyList<ReminderEntry>> ReadByGrainAsync(string grainType, string grainKey, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        return await QueryAsync(database.DataSource, PostgresSql.ReadRemindersByGrain, ToEntry, cancellationToken, Param(grainType), Param(grainKey)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ReminderEntry>> ReadByShardAsync(int shard, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Shard(shard);
        return await QueryAsync(database.DataSource, PostgresSql.ReadRemindersByShard, ToEntry, cancellationToken, Param(shard)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ReminderEntry>> ReadByShardRangeAsync(int fromShard, int toShard, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.ShardRange(fromShard, toShard);
        return await QueryAsync(database.DataSource, PostgresSql.ReadRemindersByShardRange, ToEntry, cancellationToken, Param(fromShard), Param(toShard)).ConfigureAwait(false);
    }

    private static ReminderEntry ToEntry(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetInt32(3),
        reader.GetFieldValue<DateTimeOffset>(4),
        TimeSpan.FromTicks(reader.GetInt64(5)),
        reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6));
}
