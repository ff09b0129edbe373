using Microsoft.Extensions.Logging;
using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>One writer connection and its group-commit loop: each batch is one transaction, one WAL flush, and one array statement per kind of write.</summary>
internal sealed partial class PostgresWriterLane : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly string _name;
    private NpgsqlConnection? _connection;

    public PostgresWriterLane(NpgsqlDataSource dataSource, string name, GrainStorageOptions options, ILogger logger)
    {
        _dataSource = dataSource;
        _name = name;
        _logger = logger;
        Loop = new GroupCommitLoop<PostgresGrainWrite>(name, options, CommitBatchAsync, logger);
    }

    public GroupCommitLoop<PostgresGrainWrite> Loop { get; }

    public async ValueTask DisposeAsync()
    {
        await Loop.DisposeAsync().ConfigureAwait(false);
        await DropConnectionAsync().ConfigureAwait(false);
    }

    private async ValueTask CommitBatchAsync(List<PostgresGrainWrite> batch)
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
        var single = new List<PostgresGrainWrite>(1) { default! };
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
    private async Task<PostgresException?> TryRunInTransactionAsync(List<PostgresGrainWrite> writes)
    {
        var connection = await ConnectionAsync().ConfigureAwait(false);
        var committing = false;
        try
        {
            await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
            List<PostgresGrainWrite> refused = [];
            foreach (var round in PostgresWriteRound.Split(writes))
            {
                await round.RunAsync(connection, transaction, refused).ConfigureAwait(false);
            }

            if (refused.Count > 0)
            {
                await ExplainRefusalsAsync(connection, transaction, refused).ConfigureAwait(false);
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

    private static async Task ExplainRefusalsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<PostgresGrainWrite> refused)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var write in refused)
        {
            batch.BatchCommands.Add(write.ToExplainCommand());
        }

        await using var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
        for (var i = 0; i < refused.Count; i++)
        {
            if (i > 0)
            {
                await reader.NextResultAsync().ConfigureAwait(false);
            }

            await reader.ReadAsync().ConfigureAwait(false);
            var write = refused[i];
            var version = reader.IsDBNull(0) ? 0 : reader.GetInt64(0);
            var owner = reader.IsDBNull(1) ? null : reader.GetString(1);
            long? epoch = reader.IsDBNull(2) ? null : reader.GetInt64(2);
            write.Reject(Refusal.Explain(write.GrainType, write.GrainKey, write.ExpectedVersion, write.Fence, version, owner, epoch));
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Lane}: a batch of {Count} writes hit an error; retrying them one by one so only the faulty one fails")]
    private static partial void LogBatchRetried(ILogger logger, string lane, int count, Exception error);
}
