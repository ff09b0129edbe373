using Microsoft.Data.Sqlite;
using Trellis.Core.Persistence;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>The membership table in SQLite; heartbeat times come from the store's TimeProvider.</summary>
internal sealed class SqliteMembershipTable(SqliteDatabase database) : IMembershipTable
{
    public async Task<SiloEntry> JoinAsync(string siloId, string address, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        PersistenceGuard.Text(address, PersistenceGuard.MaxAddressLength);
        var joined = await database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.JoinSilo);
            command.Set("$id", siloId);
            command.Set("$address", address);
            command.Set("$now", session.NowTicks());
            using var reader = command.ExecuteReader();
            return reader.Read() ? ToEntry(reader) : null;
        }, 0, cancellationToken).ConfigureAwait(false);
        return joined ?? throw new SiloDeclaredDeadException(siloId);
    }

    public Task<bool> HeartbeatAsync(string siloId, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.HeartbeatSilo);
            command.Set("$id", siloId);
            command.Set("$now", session.NowTicks());
            return command.ExecuteNonQuery() == 1;
        }, 0, cancellationToken);
    }

    public Task<bool> SetStatusAsync(string siloId, SiloStatus status, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        if (!Enum.IsDefined(status))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown silo status.");
        }

        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.SetSiloStatus);
            command.Set("$id", siloId);
            command.Set("$status", (int)status);
            return command.ExecuteNonQuery() == 1;
        }, 0, cancellationToken);
    }

    public Task<bool> MarkDeadAsync(string siloId, CancellationToken cancellationToken = default)
        => SetStatusAsync(siloId, SiloStatus.Dead, cancellationToken);

    public async Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = SqliteSql.ReadSilos;
        var silos = new List<SiloEntry>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                silos.Add(ToEntry(reader));
            }
        }

        return new MembershipSnapshot(silos, database.Time.GetUtcNow());
    }

    public Task<int> RemoveDeadAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(olderThan, TimeSpan.Zero);
        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.RemoveDeadSilos);
            command.Set("$cutoff", session.NowTicks() - olderThan.Ticks);
            return command.ExecuteNonQuery();
        }, 0, cancellationToken);
    }

    private static SiloEntry ToEntry(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        SqliteTime.FromTicks(reader.GetInt64(2)),
        SqliteTime.FromTicks(reader.GetInt64(3)),
        (SiloStatus)reader.GetInt32(4));
}
