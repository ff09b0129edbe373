using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using Trellis.Storage.Internal;
using Trellis.Storage.Sqlite.Internal;
using GrainStorageOptions = Trellis.Storage.GrainStorageOptions;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>One SQLite file holding the Orleans tables: a single writer connection fed by the group-commit loop, and pooled readers.</summary>
/// <remarks>
/// SQLite admits one writer at a time, so every write of the file (grain state and reminders alike) goes through this
/// one connection and shares its batches: one transaction and one fsync per batch, and a write's task completes only
/// after that commit returned. Readers use their own pooled connections; in WAL mode they neither block nor wait.
/// </remarks>
internal sealed partial class SqliteFile : IAsyncDisposable
{
    private readonly SqliteConnection _writer;
    private readonly SqliteSession _session;
    private readonly string _readerConnectionString;
    private readonly GroupCommitLoop<PendingWrite> _loop;
    private readonly ILogger _logger;

    private SqliteFile(SqliteConnection writer, string readerConnectionString, GrainStorageOptions limits, TimeProvider time, ILogger logger)
    {
        _writer = writer;
        _readerConnectionString = readerConnectionString;
        _logger = logger;
        FilePath = writer.DataSource;
        _session = new SqliteSession(writer) { Time = time };
        _loop = new GroupCommitLoop<PendingWrite>($"Orleans SQLite file {FilePath}", limits, new SqliteBatchCommitter(writer, _session, static e => e is InconsistentStateException, FilePath, logger).CommitAsync, logger);
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath { get; }

    /// <summary>The writer loop, for tests that hold it to form a batch.</summary>
    internal IGroupCommitProbe Probe => _loop;

    /// <summary>Opens (creating when missing) the file in WAL mode with synchronous=FULL and creates the Orleans tables.</summary>
    public static SqliteFile Open(string fullPath, TimeSpan busyTimeout, GrainStorageOptions limits, TimeProvider time, ILogger logger)
    {
        if (Path.GetDirectoryName(fullPath) is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
        }

        var writerBuilder = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = (int)Math.Ceiling(busyTimeout.TotalSeconds),
        };
        var readerBuilder = new SqliteConnectionStringBuilder(writerBuilder.ConnectionString)
        {
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
        };

        var writer = new SqliteConnection(writerBuilder.ConnectionString);
        try
        {
            writer.Open();
            // busy_timeout first: another process may hold the file while we switch the journal mode.
            Execute(writer, string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(long)busyTimeout.TotalMilliseconds};"));
            var journal = Scalar(writer, OrleansSqliteSql.JournalModeWal) as string;
            if (!string.Equals(journal, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"SQLite file {fullPath}: could not switch to WAL journal mode (got '{journal}'); is the file on a file system that supports shared memory?");
            }

            Execute(writer, OrleansSqliteSql.SynchronousFull);
            using (var transaction = writer.BeginTransaction(deferred: false))
            {
                Execute(writer, OrleansSqliteSql.Schema, transaction);
                transaction.Commit();
            }
        }
        catch
        {
            writer.Dispose();
            throw;
        }

        LogOpened(logger, fullPath);
        return new SqliteFile(writer, readerBuilder.ConnectionString, limits, time, logger);
    }

    /// <summary>Queues a write for the writer and waits until it is committed and fsynced, or refused.</summary>
    /// <remarks><paramref name="run"/> runs on the writer inside the batch transaction. It may refuse by throwing
    /// <see cref="InconsistentStateException"/> after its statements changed nothing; any other exception is a failure
    /// of that write alone, and the rest of the batch runs again without it.</remarks>
    public async Task<T> WriteAsync<T>(Func<SqliteSession, T> run, int payloadBytes, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = new SqliteOperation<T>(run, payloadBytes);
        operation.CancelWhileQueued(cancellationToken);
        await _loop.EnqueueAsync(operation, cancellationToken).ConfigureAwait(false);
        return await operation.Task.ConfigureAwait(false);
    }

    /// <summary>Opens a pooled read connection; it sees every write acknowledged before it started.</summary>
    public async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_readerConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A pragma as the writer connection sees it, for tests that check the durability settings.</summary>
    internal object? WriterPragma(string name) => Scalar(_writer, $"PRAGMA {name};");

    /// <summary>Commits every write already queued, then closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        await _loop.DisposeAsync().ConfigureAwait(false);
        _session.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
        using var pooled = new SqliteConnection(_readerConnectionString);
        SqliteConnection.ClearPool(pooled);
        LogClosed(_logger, FilePath);
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Orleans SQLite file {Path} opened (WAL, synchronous=FULL, group commit)")]
    private static partial void LogOpened(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Orleans SQLite file {Path} closed")]
    private static partial void LogClosed(ILogger logger, string path);

}
