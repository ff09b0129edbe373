using Microsoft.Extensions.Logging;
using Npgsql;
using Trellis.Storage;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>The writer of one <see cref="PostgresGrainStorage"/>: lanes of one connection each, fed by Trellis.Storage's group-commit loop.</summary>
/// <remarks>
/// Each batch is one transaction and one WAL flush; a write's task completes only after that commit returned (the loop
/// publishes outcomes after the batch callback). A state always goes to the same lane, so its writes keep their order.
/// Trellis.Storage's own PostgreSQL lane is bound to its fenced <c>grain_state</c> table, so only the loop and the queued
/// write are shared; the statements here are those of <see cref="OrleansPostgresSql"/>.
/// </remarks>
internal sealed partial class PostgresStateWriter : IAsyncDisposable
{
    private readonly Lane[] _lanes;

    public PostgresStateWriter(NpgsqlDataSource dataSource, string serviceId, string provider, int connections, GrainStorageOptions limits, Func<PostgresStateWrite, long?, Exception> conflict, ILogger logger)
    {
        // The queue bound is for the provider as a whole; each lane gets its share.
        var perLane = new GrainStorageOptions
        {
            MaxStateBytes = limits.MaxStateBytes,
            MaxBatchSize = limits.MaxBatchSize,
            MaxBatchBytes = limits.MaxBatchBytes,
            QueueCapacity = Math.Max(1, limits.QueueCapacity / connections),
        };
        _lanes = new Lane[connections];
        for (var i = 0; i < connections; i++)
        {
            _lanes[i] = new Lane(dataSource, serviceId, provider, $"Orleans PostgreSQL grain storage '{provider}' writer {i}", perLane, conflict, logger);
        }
    }

    /// <summary>The loop of each lane, for tests that hold a writer to form a batch.</summary>
    internal IReadOnlyList<IGroupCommitProbe> Probes => Array.ConvertAll(_lanes, static lane => (IGroupCommitProbe)lane.Loop);

    /// <summary>Counters summed over the lanes.</summary>
    internal GroupCommitStats Stats
    {
        get
        {
            long batches = 0, writes = 0;
            int largest = 0, last = 0;
            foreach (var lane in _lanes)
            {
                var stats = lane.Loop.Stats;
                batches += stats.Batches;
                writes += stats.Writes;
                largest = Math.Max(largest, stats.LargestBatch);
                last = stats.LastBatch;
            }

            return new GroupCommitStats(batches, writes, largest, last);
        }
    }

    /// <summary>Queues a write on its state's lane and waits until it is committed (durable) or refused.</summary>
    public async Task<long> WriteAsync(PostgresStateWrite write, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var lane = _lanes.Length == 1 ? _lanes[0] : _lanes[(uint)HashCode.Combine(write.GrainId, write.StateName) % (uint)_lanes.Length];
        write.CancelWhileQueued(cancellationToken);
        await lane.Loop.EnqueueAsync(write, cancellationToken).ConfigureAwait(false);
        return await write.Task.ConfigureAwait(false);
    }

    /// <summary>Commits every write already queued, then closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var lane in _lanes)
        {
            await lane.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Lane}: a batch of {Count} writes hit an error; retrying them one by one so only the faulty one fails")]
    private static partial void LogBatchRetried(ILogger logger, string lane, int count, Exception error);

    private sealed class Lane : IAsyncDisposable
    {
        private readonly NpgsqlDataSource _dataSource;
        private readonly string _serviceId;
        private readonly string _provider;
        private readonly string _name;
        private readonly Func<PostgresStateWrite, long?, Exception> _conflict;
        private readonly ILogger _logger;
        private NpgsqlConnection? _connection;

        public Lane(NpgsqlDataSource dataSource, string serviceId, string provider, string name, GrainStorageOptions limits, Func<PostgresStateWrite, long?, Exception> conflict, ILogger logger)
        {
            _dataSource = dataSource;
            _serviceId = serviceId;
            _provider = provider;
            _name = name;
            _conflict = conflict;
            _logger = logger;
            Loop = new GroupCommitLoop<PostgresStateWrite>(name, limits, CommitBatchAsync, logger);
        }

        public GroupCommitLoop<PostgresStateWrite> Loop { get; }

        public async ValueTask DisposeAsync()
        {
            await Loop.DisposeAsync().ConfigureAwait(false);
            await DropConnectionAsync().ConfigureAwait(false);
        }

        private async ValueTask CommitBatchAsync(List<PostgresStateWrite> batch)
        {
            var error = await TryRunInTransactionAsync(batch).ConfigureAwait(false);
            if (error is null)
            {
                return;
            }

            // A statement failed, so the server aborted the whole transaction. Run each write in its own transaction:
            // the one that caused the error fails alone, the others commit.
            if (batch.Count == 1)
            {
                batch[0].Reject(error);
                return;
            }

            LogBatchRetried(_logger, _name, batch.Count, error);
            var single = new List<PostgresStateWrite>(1) { default! };
            foreach (var write in batch)
            {
                write.Reset();
                single[0] = write;
                if (await TryRunInTransactionAsync(single).ConfigureAwait(false) is { } own)
                {
                    write.Reject(own);
                }
            }
        }

        /// <summary>Runs the writes in one transaction and commits it; returns the server error (rolled back) when a statement failed before the commit.</summary>
        /// <remarks>A lost connection or a failed commit is thrown instead: its outcome is unknown, so nothing may be retried.</remarks>
        private async Task<PostgresException?> TryRunInTransactionAsync(List<PostgresStateWrite> writes)
        {
            var connection = await ConnectionAsync().ConfigureAwait(false);
            var committing = false;
            try
            {
                await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
                foreach (var round in Rounds(writes))
                {
                    await RunRoundAsync(connection, transaction, round).ConfigureAwait(false);
                }

                committing = true;
                await transaction.CommitAsync().ConfigureAwait(false);
                return null;
            }
            catch (PostgresException failed) when (!committing)
            {
                return failed;
            }
            catch (Exception) when (connection.FullState.HasFlag(System.Data.ConnectionState.Broken) || connection.State == System.Data.ConnectionState.Closed)
            {
                await DropConnectionAsync().ConfigureAwait(false);
                throw;
            }
        }

        /// <summary>Splits a batch into rounds in which each state appears once, keeping each state's writes in issue order.</summary>
        /// <remarks>One array statement sees the table as it was before it ran, so a second write of the same state
        /// must run in a later statement to see the first.</remarks>
        private static List<List<PostgresStateWrite>> Rounds(List<PostgresStateWrite> batch)
        {
            if (batch.Count == 1)
            {
                return [batch];
            }

            var rounds = new List<List<PostgresStateWrite>> { new(batch.Count) };
            var seen = new Dictionary<(string, string), int>(batch.Count);
            foreach (var write in batch)
            {
                var key = (write.GrainId, write.StateName);
                var round = seen.GetValueOrDefault(key);
                seen[key] = round + 1;
                if (round == rounds.Count)
                {
                    rounds.Add([]);
                }

                rounds[round].Add(write);
            }

            return rounds;
        }

        /// <summary>Runs a round's statements; a write that landed gets its new version, one refused gets a conflict naming the stored version.</summary>
        private async Task RunRoundAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<PostgresStateWrite> round)
        {
            var inserts = round.FindAll(static w => w.ExpectedVersion == 0);
            var updates = round.FindAll(static w => w.ExpectedVersion != 0);
            await using var batch = new NpgsqlBatch(connection, transaction);
            if (inserts.Count > 0)
            {
                batch.BatchCommands.Add(Command(OrleansPostgresSql.InsertStates, inserts, withData: true, withExpected: false));
            }

            if (updates.Count > 0)
            {
                batch.BatchCommands.Add(Command(OrleansPostgresSql.UpdateStates, updates, withData: true, withExpected: true));
            }

            HashSet<(string, string)>? created = null;
            var updated = new bool[updates.Count];
            await using (var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false))
            {
                if (inserts.Count > 0)
                {
                    created = new HashSet<(string, string)>(inserts.Count);
                    while (await reader.ReadAsync().ConfigureAwait(false))
                    {
                        created.Add((reader.GetString(0), reader.GetString(1)));
                    }

                    await reader.NextResultAsync().ConfigureAwait(false);
                }

                while (updates.Count > 0 && await reader.ReadAsync().ConfigureAwait(false))
                {
                    updated[reader.GetInt64(0) - 1] = true;
                }
            }

            List<PostgresStateWrite>? refused = null;
            foreach (var write in inserts)
            {
                Settle(write, created!.Contains((write.GrainId, write.StateName)), ref refused);
            }

            for (var i = 0; i < updates.Count; i++)
            {
                Settle(updates[i], updated[i], ref refused);
            }

            if (refused is not null)
            {
                await ExplainAsync(connection, transaction, refused).ConfigureAwait(false);
            }
        }

        private static void Settle(PostgresStateWrite write, bool written, ref List<PostgresStateWrite>? refused)
        {
            if (written)
            {
                write.Succeed(write.ExpectedVersion + 1);
            }
            else
            {
                (refused ??= []).Add(write);
            }
        }

        /// <summary>Reads, in the same transaction, the version that made each refused write miss, for its conflict.</summary>
        private async Task ExplainAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<PostgresStateWrite> refused)
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            batch.BatchCommands.Add(Command(OrleansPostgresSql.StoredVersions, refused, withData: false, withExpected: false));
            await using var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                var write = refused[(int)reader.GetInt64(0) - 1];
                write.Reject(_conflict(write, reader.IsDBNull(1) ? null : reader.GetInt64(1)));
            }
        }

        private NpgsqlBatchCommand Command(string sql, List<PostgresStateWrite> writes, bool withData, bool withExpected)
        {
            var count = writes.Count;
            var grains = new string[count];
            var states = new string[count];
            var data = withData ? new byte[]?[count] : null;
            var expected = withExpected ? new long[count] : null;
            for (var i = 0; i < count; i++)
            {
                var write = writes[i];
                grains[i] = write.GrainId;
                states[i] = write.StateName;
                data?[i] = write.Data;
                expected?[i] = write.ExpectedVersion;
            }

            var command = new NpgsqlBatchCommand(sql);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _serviceId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _provider });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = grains });
            command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = states });
            if (data is not null)
            {
                command.Parameters.Add(new NpgsqlParameter<byte[]?[]> { TypedValue = data, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bytea });
            }

            if (expected is not null)
            {
                command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = expected });
            }

            return command;
        }

        private async ValueTask<NpgsqlConnection> ConnectionAsync()
        {
            if (_connection is { State: System.Data.ConnectionState.Open })
            {
                return _connection;
            }

            await DropConnectionAsync().ConfigureAwait(false);
            _connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
            return _connection;
        }

        private async ValueTask DropConnectionAsync()
        {
            if (_connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
                _connection = null;
            }
        }
    }
}
