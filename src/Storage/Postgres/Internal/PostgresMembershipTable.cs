using Npgsql;
using Trellis.Core.Persistence;
using static Trellis.Storage.Postgres.Internal.PostgresCommands;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>The membership table in PostgreSQL; heartbeat times come from the database server's clock.</summary>
internal sealed class PostgresMembershipTable(PostgresDatabase database) : IMembershipTable
{
    public async Task<SiloEntry> JoinAsync(string siloId, string address, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        PersistenceGuard.Text(address, PersistenceGuard.MaxAddressLength);
        var rows = await QueryAsync(database.DataSource, PostgresSql.JoinSilo, ToEntry, cancellationToken, Param(siloId), Param(address)).ConfigureAwait(false);
        return rows.Count == 0 ? throw new SiloDeclaredDeadException(siloId) : rows[0];
    }

    public async Task<bool> HeartbeatAsync(string siloId, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        return await ExecuteAsync(database.DataSource, PostgresSql.HeartbeatSilo, cancellationToken, Param(siloId)).ConfigureAwait(false) == 1;
    }

    public async Task<bool> SetStatusAsync(string siloId, SiloStatus status, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Text(siloId, PersistenceGuard.MaxOwnerLength);
        if (!Enum.IsDefined(status))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown silo status.");
        }

        return await ExecuteAsync(database.DataSource, PostgresSql.SetSiloStatus, cancellationToken, Param(siloId), Param((short)status)).ConfigureAwait(false) == 1;
    }

    public Task<bool> MarkDeadAsync(string siloId, CancellationToken cancellationToken = default)
        => SetStatusAsync(siloId, SiloStatus.Dead, cancellationToken);

    public async Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        var now = await NowAsync(database.DataSource, cancellationToken).ConfigureAwait(false);
        var silos = await QueryAsync(database.DataSource, PostgresSql.ReadSilos, ToEntry, cancellationToken).ConfigureAwait(false);
        return new MembershipSnapshot(silos, now);
    }

    public Task<int> RemoveDeadAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(olderThan, TimeSpan.Zero);
        return ExecuteAsync(database.DataSource, PostgresSql.RemoveDeadSilos, cancellationToken, Param(olderThan));
    }

    private static SiloEntry ToEntry(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetFieldValue<DateTimeOffset>(2),
        reader.GetFieldValue<DateTimeOffset>(3),
        (SiloStatus)reader.GetInt16(4));
}
