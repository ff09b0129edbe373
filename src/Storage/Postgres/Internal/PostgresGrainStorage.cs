using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>Grain state in PostgreSQL: writes are group-committed by the database's writer connection, reads use the pool.</summary>
internal sealed class PostgresGrainStorage(PostgresDatabase database) : IGrainStorage
{
    public async Task<StoredState> ReadAsync(string grainType, string grainKey, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        await using var command = database.DataSource.CreateCommand(PostgresSql.ReadState);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = grainType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = grainKey });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return default;
        }

        var data = reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1);
        return new StoredState(data, reader.GetInt64(0));
    }

    public Task<long> WriteAsync(string grainType, string grainKey, ReadOnlyMemory<byte> state, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.State(state, database.Grains.MaxStateBytes);
        PersistenceGuard.Version(expectedVersion);
        PersistenceGuard.Fence(fence);
        return database.WriteAsync(new PostgresGrainWrite(grainType, grainKey, ByteArrays.Of(state), expectedVersion, fence), cancellationToken);
    }

    public Task<long> ClearAsync(string grainType, string grainKey, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Version(expectedVersion);
        PersistenceGuard.Fence(fence);
        return database.WriteAsync(new PostgresGrainWrite(grainType, grainKey, null, expectedVersion, fence), cancellationToken);
    }
}
