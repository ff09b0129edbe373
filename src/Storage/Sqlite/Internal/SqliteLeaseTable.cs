using Microsoft.Data.Sqlite;
using Trellis.Core.Persistence;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>Shard leases in SQLite; expiry is decided by the store's TimeProvider at the moment the writer runs the statement.</summary>
internal sealed class SqliteLeaseTable(SqliteDatabase database) : ILeaseTable
{
    public Task<Lease?> TryAcquireAsync(int shard, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Shard(shard);
        PersistenceGuard.Text(owner, PersistenceGuard.MaxOwnerLength);
        PersistenceGuard.Ttl(ttl);
        return database.WriteAsync(session =>
        {
            var now = session.NowTicks();
            var command = session.Command(SqliteSql.AcquireLease);
            command.Set("$shard", shard);
            command.Set("$owner", owner);
            command.Set("$now", now);
            command.Set("$expires", now + ttl.Ticks);
            return ReadLease(command);
        }, 0, cancellationToken);
    }

    public Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Lease(lease);
        PersistenceGuard.Ttl(ttl);
        return database.WriteAsync(session =>
        {
            var now = session.NowTicks();
            var command = session.Command(SqliteSql.RenewLease);
            command.Set("$shard", lease.Shard);
            command.Set("$owner", lease.Owner);
            command.Set("$epoch", lease.Epoch);
            command.Set("$now", now);
            command.Set("$expires", now + ttl.Ticks);
            return ReadLease(command);
        }, 0, cancellationToken);
    }

    public Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Lease(lease);
        return database.WriteAsync(session =>
        {
            var command = session.Command(SqliteSql.ReleaseLease);
            command.Set("$shard", lease.Shard);
            command.Set("$owner", lease.Owner);
            command.Set("$epoch", lease.Epoch);
            command.Set("$now", session.NowTicks());
            return command.ExecuteNonQuery() == 1;
        }, 0, cancellationToken);
    }

    public async Task<LeaseSnapshot> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = SqliteSql.ReadLeases;
        var leases = new List<Lease>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                leases.Add(ToLease(reader));
            }
        }

        return new LeaseSnapshot(leases, database.Time.GetUtcNow());
    }

    private static Lease? ReadLease(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        return reader.Read() ? ToLease(reader) : null;
    }

    private static Lease ToLease(SqliteDataReader reader)
        => new(reader.GetInt32(0), reader.GetString(1), reader.GetInt64(2), SqliteTime.FromTicks(reader.GetInt64(3)));
}
