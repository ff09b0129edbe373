using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>
/// One SQLite file: a single writer connection fed by the group-commit loop, and pooled reader connections.
/// </summary>
/// <remarks>
/// SQLite admits one writer at a time, so every write of the store (grain state, leases, membership, reminders) goes
/// through this one connection: writes never wait on each other's file lock, and all of them share the batching.
/// Readers use their own pooled connections; in WAL mode they neither block nor wait for the writer.
/// </remarks>
internal sealed partial class SqliteDatabase : IAsyncDisposable
{
    // What TryRunInTransaction reports besides the index of a failed write.
    private const int Committed = -1;
    private const int NoWrite = -2;

    private readonly SqliteConnection _writer;
    private readonly SqliteSession _session;
    private readonly string _readerConnectionString;
    private readonly GroupCommitLoop<PendingWrite> _loop;
    private readonly ILogger _logger;

    private SqliteDatabase(SqliteConnection writer, string readerConnectionString, SqliteStoreOptions options, TimeProvider time, ILogger logger)
    {
        _writer = writer;
        _readerConnectionString = readerConnectionString;
        _logger = logger;
        Time = time;
        Grains = options.Grains;
        FilePath = writer.DataSource;
        _session = new SqliteSession(writer) { Time = time };
        _loop = new GroupCommitLoop<PendingWrite>($"SQLite store {FilePath}", options.Grains, CommitBatch, logger);
    }

    public TimeProvider Time { get; }

    public GrainStorageOptions Grains { get; }

    public string FilePath { get; }

    internal GroupCommitLoop<PendingWrite> Loop => _loop;

    public static SqliteDatabase Open(SqliteStoreOptions options, TimeProvider time, ILogger logger)
    {
        options.Validate();
        var path = System.IO.Path.GetFullPath(options.Path);
        if (System.IO.Path.GetDirectoryName(path) is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
        }

        var timeoutSeconds = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);
        var writerBuilder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = timeoutSeconds,
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
            var journal = Scalar(writer, SqliteSql.JournalModeWal) as string;
            if (!string.Equals(journal, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new TrellisException(ErrorKind.FailedPrecondition, $"SQLite store {path}: could not switch to WAL journal mode (got '{journal}'); is the file on a file system that supports shared memory?");
            }

            Execute(writer, SqliteSql.SynchronousFull + string.Create(CultureInfo.InvariantCulture, $" PRAGMA busy_timeout = {(long)options.BusyTimeout.TotalMilliseconds};"));
            Migrate(writer, time, logger, path);
        }
        catch
        {
            writer.Dispose();
            throw;
        }

        return new SqliteDatabase(writer, readerBuilder.ConnectionString, options, time, logger);
    }

    /// <summary>Queues a write for the writer and waits until it is committed (durable) or refused.</summary>
    public async Task<T> WriteAsync<T>(Func<SqliteSession, T> run, int payloadBytes, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = new SqliteOperation<T>(run, payloadBytes);
        operation.CancelWhileQueued(cancellationToken);
        await _loop.EnqueueAsync(operation, cancellationToken).ConfigureAwait(false);
        return await operation.Task.ConfigureAwait(false);
    }

    /// <summary>Opens a pooled read connection; readers see every write acknowledged before they started.</summary>
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

    /// <summary>The synchronous mode of the writer connection (2 = FULL), for tests that check durability settings.</summary>
    internal long WriterSynchronousMode() => (long)Scalar(_writer, "PRAGMA synchronous;")!;

    public async ValueTask DisposeAsync()
    {
        await _loop.DisposeAsync().ConfigureAwait(false);
        _session.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
        using var pooled = new SqliteConnection(_readerConnectionString);
        SqliteConnection.ClearPool(pooled);
    }

    private ValueTask CommitBatch(List<PendingWrite> batch)
    {
        var pending = batch;
        while (true)
        {
            var failed = TryRunInTransaction(pending, out var error);
            if (failed == Committed)
            {
                return ValueTask.CompletedTask;
            }

            if (failed == NoWrite)
            {
                // The transaction itself could not start (for example another process held the file's write lock
                // past the busy timeout): nothing ran, so every write fails with that error.
                foreach (var write in pending)
                {
                    write.Reject(error!);
                }

                return ValueTask.CompletedTask;
            }

            // One write's statement failed and SQLite rolled the whole batch back: that write fails alone, the others
            // run again together.
            LogWriteFailed(_logger, FilePath, pending.Count - 1, error!);
            pending[failed].Reject(error!);
            var rest = new List<PendingWrite>(pending.Count - 1);
            for (var i = 0; i < pending.Count; i++)
            {
                if (i != failed)
                {
                    pending[i].Reset();
                    rest.Add(pending[i]);
                }
            }

            if (rest.Count == 0)
            {
                return ValueTask.CompletedTask;
            }

            pending = rest;
        }
    }

    /// <summary>Runs the writes in one transaction and commits it.</summary>
    /// <returns><see cref="Committed"/>; or, rolled back, the index of the write whose statement failed, or
    /// <see cref="NoWrite"/> when the failure came before any write. A failed commit is thrown: the batch's outcome is
    /// then unknown and every write fails.</returns>
    private int TryRunInTransaction(List<PendingWrite> writes, out Exception? error)
    {
        error = null;
        var current = NoWrite;
        var committing = false;
        try
        {
            using var transaction = _writer.BeginTransaction(deferred: false);
            _session.Transaction = transaction;
            for (current = 0; current < writes.Count; current++)
            {
                try
                {
                    ((ISqliteOperation)writes[current]).Run(_session);
                }
                catch (TrellisException refused)
                {
                    writes[current].Reject(refused);
                }
            }

            committing = true;
            transaction.Commit();
            return Committed;
        }
        catch (SqliteException failed) when (!committing)
        {
            error = failed;
            return current;
        }
        finally
        {
            _session.Transaction = null;
        }
    }

    private static void Migrate(SqliteConnection connection, TimeProvider time, ILogger logger, string path)
    {
        using var transaction = connection.BeginTransaction(deferred: false);
        Execute(connection, SqliteSql.CreateMigrations, transaction);
        var applied = new HashSet<long>();
        using (var select = connection.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = SqliteSql.SelectMigrations;
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                applied.Add(reader.GetInt64(0));
            }
        }

        foreach (var script in SchemaScript.Load("Sqlite"))
        {
            if (applied.Contains(script.Id))
            {
                continue;
            }

            Execute(connection, script.Sql, transaction);
            using var record = connection.CreateCommand();
            record.Transaction = transaction;
            record.CommandText = SqliteSql.InsertMigration;
            record.Parameters.AddWithValue("$id", script.Id);
            record.Parameters.AddWithValue("$name", script.Name);
            record.Parameters.AddWithValue("$now", time.GetUtcNow().UtcTicks);
            record.ExecuteNonQuery();
            LogMigrationApplied(logger, path, script.Name);
        }

        transaction.Commit();
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

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite store {Path}: applied schema migration {Migration}")]
    private static partial void LogMigrationApplied(ILogger logger, string path, string migration);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite store {Path}: a write failed in the database; the {Count} other writes of its batch run again without it")]
    private static partial void LogWriteFailed(ILogger logger, string path, int count, Exception error);
}
