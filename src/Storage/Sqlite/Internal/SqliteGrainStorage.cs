using Trellis.Core.Persistence;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>Grain state in SQLite: writes are group-committed by the database's writer, reads use pooled connections.</summary>
internal sealed class SqliteGrainStorage(SqliteDatabase database) : IGrainStorage
{
    public async Task<StoredState> ReadAsync(string grainType, string grainKey, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        await using var connection = await database.OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = SqliteSql.ReadState;
        command.Set("$type", grainType);
        command.Set("$key", grainKey);
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
        var data = ByteArrays.Of(state);
        return database.WriteAsync(session => Apply(session, grainType, grainKey, data, expectedVersion, fence), data.Length, cancellationToken);
    }

    public Task<long> ClearAsync(string grainType, string grainKey, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default)
    {
        PersistenceGuard.Grain(grainType, grainKey);
        PersistenceGuard.Version(expectedVersion);
        PersistenceGuard.Fence(fence);
        return database.WriteAsync(session => Apply(session, grainType, grainKey, null, expectedVersion, fence), 0, cancellationToken);
    }

    private static long Apply(SqliteSession session, string grainType, string grainKey, byte[]? data, long expectedVersion, FenceToken fence)
    {
        var command = session.Command(expectedVersion == 0 ? SqliteSql.InsertState : SqliteSql.UpdateState);
        command.Set("$type", grainType);
        command.Set("$key", grainKey);
        command.Set("$data", data);
        command.Set("$now", session.NowTicks());
        command.Set("$shard", fence.Shard);
        command.Set("$owner", fence.Owner);
        command.Set("$epoch", fence.Epoch);
        if (expectedVersion != 0)
        {
            command.Set("$expected", expectedVersion);
        }

        if (command.ExecuteNonQuery() == 1)
        {
            return expectedVersion + 1;
        }

        throw ExplainRefusal(session, grainType, grainKey, expectedVersion, fence);
    }

    private static Exception ExplainRefusal(SqliteSession session, string grainType, string grainKey, long expectedVersion, FenceToken fence)
    {
        var command = session.Command(SqliteSql.ExplainRefusal);
        command.Set("$type", grainType);
        command.Set("$key", grainKey);
        command.Set("$shard", fence.Shard);
        using var reader = command.ExecuteReader();
        reader.Read();
        var version = reader.IsDBNull(0) ? 0 : reader.GetInt64(0);
        var owner = reader.IsDBNull(1) ? null : reader.GetString(1);
        long? epoch = reader.IsDBNull(2) ? null : reader.GetInt64(2);
        return Refusal.Explain(grainType, grainKey, expectedVersion, fence, version, owner, epoch);
    }
}
