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
        _loop = new GroupCommitLoop<PendingWrite>($"SQLite store {FilePath}", options.Grains, new SqliteBatchCommitter(writer, _session, static e => e is TrellisException, FilePath, logger).CommitAsync, logger);
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

}
