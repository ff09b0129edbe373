using Npgsql;
using NpgsqlTypes;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>Writes of one batch that touch distinct grains, sent as one array statement per kind (create, update).</summary>
/// <remarks>
/// A batch may hold several writes of one grain (an activation pipelining its writes). The n-th write of a grain goes
/// into the n-th round, and rounds run in order inside the batch's transaction, so each write sees the one before it.
/// </remarks>
internal sealed class PostgresWriteRound
{
    private readonly List<PostgresGrainWrite> _inserts = [];
    private readonly List<PostgresGrainWrite> _updates = [];

    /// <summary>Splits a batch into rounds of distinct grains, keeping each grain's writes in issue order.</summary>
    public static List<PostgresWriteRound> Split(List<PostgresGrainWrite> batch)
    {
        var rounds = new List<PostgresWriteRound> { new() };
        Dictionary<(string, string), int>? seen = null;
        foreach (var write in batch)
        {
            var round = 0;
            if (batch.Count > 1)
            {
                seen ??= new Dictionary<(string, string), int>(batch.Count);
                var grain = (write.GrainType, write.GrainKey);
                round = seen.GetValueOrDefault(grain);
                seen[grain] = round + 1;
            }

            if (round == rounds.Count)
            {
                rounds.Add(new PostgresWriteRound());
            }

            var target = rounds[round];
            (write.ExpectedVersion == 0 ? target._inserts : target._updates).Add(write);
        }

        return rounds;
    }

    /// <summary>Runs the round's statements and marks each write written (version + 1) or adds it to <paramref name="refused"/>.</summary>
    public async Task RunAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<PostgresGrainWrite> refused)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        if (_inserts.Count > 0)
        {
            batch.BatchCommands.Add(Command(PostgresSql.InsertStates, _inserts, withExpected: false));
        }

        if (_updates.Count > 0)
        {
            batch.BatchCommands.Add(Command(PostgresSql.UpdateStates, _updates, withExpected: true));
        }

        HashSet<(string, string)>? created = null;
        var updated = new bool[_updates.Count];
        await using (var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false))
        {
            if (_inserts.Count > 0)
            {
                created = new HashSet<(string, string)>(_inserts.Count);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    created.Add((reader.GetString(0), reader.GetString(1)));
                }

                await reader.NextResultAsync().ConfigureAwait(false);
            }

            if (_updates.Count > 0)
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    updated[reader.GetInt64(0) - 1] = true;
                }
            }
        }

        foreach (var write in _inserts)
        {
            Settle(write, created!.Contains((write.GrainType, write.GrainKey)), refused);
        }

        for (var i = 0; i < _updates.Count; i++)
        {
            Settle(_updates[i], updated[i], refused);
        }
    }

    private static void Settle(PostgresGrainWrite write, bool written, List<PostgresGrainWrite> refused)
    {
        if (written)
        {
            write.Succeed(write.ExpectedVersion + 1);
        }
        else
        {
            refused.Add(write);
        }
    }

    private static NpgsqlBatchCommand Command(string sql, List<PostgresGrainWrite> writes, bool withExpected)
    {
        var count = writes.Count;
        var types = new string[count];
        var keys = new string[count];
        var data = new byte[]?[count];
        var shards = new int[count];
        var owners = new string[count];
        var epochs = new long[count];
        var expected = withExpected ? new long[count] : null;
        for (var i = 0; i < count; i++)
        {
            var write = writes[i];
            types[i] = write.GrainType;
            keys[i] = write.GrainKey;
            data[i] = write.Data;
            shards[i] = write.Fence.Shard;
            owners[i] = write.Fence.Owner;
            epochs[i] = write.Fence.Epoch;
            if (expected is not null)
            {
                expected[i] = write.ExpectedVersion;
            }
        }

        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = types });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = keys });
        command.Parameters.Add(new NpgsqlParameter<byte[]?[]> { TypedValue = data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = shards });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = owners });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = epochs });
        if (expected is not null)
        {
            command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = expected });
        }

        return command;
    }
}
