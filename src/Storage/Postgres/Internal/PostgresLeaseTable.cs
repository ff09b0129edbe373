using Npgsql;
using Trellis.Core.Persistence;
using static Trellis.Storage.Postgres.Internal.PostgresCommands;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>Shard leases in PostgreSQL; expiry is decided by the database server's clock.</summary>
internal sealed class PostgresLeaseTable(PostgresDatabase database) : ILeaseTable
{
    public async Task<Lease?> TryAcquireAsync(int shard, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Shard(shard);
        PersistenceGuard.Text(owner, PersistenceGuard.MaxOwnerLength);
        PersistenceGuard.Ttl(ttl);
        var rows = await QueryAsync(database.DataSource, PostgresSql.AcquireLease, ToLease, cancellationToken, Param(shard), Param(owner), Param(ttl)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Lease(lease);
        PersistenceGuard.Ttl(ttl);
        var rows = await QueryAsync(database.DataSource, PostgresSql.RenewLease, ToLease, cancellationToken, Param(lease.Shard), Param(lease.Owner), Param(lease.Epoch), Param(ttl)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Lease(lease);
        return await ExecuteAsync(database.DataSource, PostgresSql.ReleaseLease, cancellationToken, Param(lease.Shard), Param(lease.Owner), Param(lease.Epoch)).ConfigureAwait(false) == 1;
    }

    public async Task<LeaseSnapshot> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        var now = await NowAsync(database.DataSource, cancellationToken).ConfigureAwait(false);
        var leases = await QueryAsync(database.DataSource, PostgresSql.ReadLeases, ToLease, cancellationToken).ConfigureAwait(false);
        return new LeaseSnapshot(leases, now);
    }

    private static Lease ToLease(NpgsqlDataReader reader)
        => new(reader.GetInt32(0), reader.GetString(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3));
}
