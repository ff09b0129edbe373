using Microsoft.Data.Sqlite;
using Trellis.Core.Persistence;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>The reminder table in SQLite; times are stored as UTC ticks, so they round-trip exactly.</summary>
internal sealed class SqliteReminderTable(SqliteDatabase database) : IReminderTable
{
    public Task UpsertAsync(ReminderEntry reminder, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Reminder(reminder);
        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.UpsertReminder);
            AddKey(command, reminder.GrainType, reminder.GrainKey, reminder.Name);
            command.Set("$shard", reminder.Shard);
            command.Set("$start", reminder.StartAt.UtcTicks);
            command.Set("$period", reminder.Period.Ticks);
            command.Set("$fired", reminder.LastFiredAt?.UtcTicks);
            return command.ExecuteNonQuery();
        }, 0, cancellationToken);
    }

    public Task<bool> RemoveAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.RemoveReminder);
            AddKey(command, grainType, grainKey, name);
            return command.ExecuteNonQuery() == 1;
        }, 0, cancellationToken);
    }

    public Task<bool> MarkFiredAsync(string grainType, string grainKey, string name, DateTimeOffset firedAt, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.MarkReminderFired);
            AddKey(command, grainType, grainKey, name);
            command.Set("$fired", firedAt.UtcTicks);
            return command.ExecuteNonQuery() == 1;
        }, 0, cancellationToken);
    }

    public async Task<ReminderEntry?> ReadAsync(string grainType, string grainKey, string name, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Text(name, PersistenceGuard.MaxNameLength);
        var found = await QueryAsync(SqliteSql.ReadReminder, command => AddKey(command, grainType, grainKey, name), cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public Task<IReadOnlyList<ReminderEntry>> ReadByGrainAsync(string grainType, string grainKey, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        return QueryAsync(SqliteSql.ReadRemindersByGrain, command =>
        {
            command.Set("$type", grainType);
            command.Set("$key", grainKey);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<ReminderEntry>> ReadByShardAsync(int shard, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Shard(shard);
        return QueryAsync(SqliteSql.ReadRemindersByShard, command => command.Set("$shard", shard), cancellationToken);
    }

    public Task<IReadOnlyList<ReminderEntry>> ReadByShardRangeAsync(int fromShard, int toShard, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.ShardRange(fromShard, toShard);
        return QueryAsync(SqliteSql.ReadRemindersByShardRange, command =>
        {
            command.Set("$from", fromShard);
            command.Set("$to", toShard);
        }, cancellationToken);
    }

    private async Task<IReadOnlyList<ReminderEntry>> QueryAsync(string sql, Action<SqliteCommand> bind, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        bind(command);
        var found = new List<ReminderEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            found.Add(new ReminderEntry(
                reader.GetString(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetInt32(3),
                SqliteTime.FromTicks(reader.GetInt64(4)),
                TimeSpan.FromTicks(reader.GetInt64(5)),
                reader.IsDBNull(6) ? null : SqliteTime.FromTicks(reader.GetInt64(6))));
        }

        return found;
    }

    private static void AddKey(SqliteCommand command, string grainType, string grainKey, string name)
    {
        command.Set("$type", grainType);
        command.Set("$key", grainKey);
        command.Set("$name", name);
    }
}
