using Microsoft.Extensions.Logging;
using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>
/// One PostgreSQL schema: a data source for reads and single-statement writes, and writer lanes that commit grain
/// writes in batches. A grain always goes to the same lane, so its writes are applied in the order they were issued.
/// </summary>
internal sealed partial class PostgresDatabase : IAsyncDisposable
{
    private readonly PostgresWriterLane[] _lanes;

    private PostgresDatabase(NpgsqlDataSource dataSource, PostgresStoreOptions options, ILogger logger)
    {
        DataSource = dataSource;
        Grains = options.Grains;
        Schema = options.Schema;

        // The queue bound is for the store as a whole; each lane gets its share.
        var perLane = new GrainStorageOptions
        {
            MaxStateBytes = options.Grains.MaxStateBytes,
            MaxBatchSize = options.Grains.MaxBatchSize,
            MaxBatchBytes = options.Grains.MaxBatchBytes,
            QueueCapacity = Math.Max(1, options.Grains.QueueCapacity / options.WriterConnections),
        };
        _lanes = new PostgresWriterLane[options.WriterConnections];
        for (var i = 0; i < _lanes.Length; i++)
        {
            _lanes[i] = new PostgresWriterLane(dataSource, $"PostgreSQL store (schema {Schema}) writer {i}", perLane, logger);
        }
    }

    public NpgsqlDataSource DataSource { get; }

    public GrainStorageOptions Grains { get; }

    public string Schema { get; }

    internal IReadOnlyList<PostgresWriterLane> Lanes => _lanes;

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

    public static async Task<PostgresDatabase> OpenAsync(PostgresStoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        options.Validate();
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            SearchPath = options.Schema,
        };

        // An acknowledged write must survive a crash, whatever the server's default is.
        builder.Options = $"{builder.Options} -c synchronous_commit=on".Trim();
        if (builder.MaxAutoPrepare == 0)
        {
            // The same few statements run all the time: let Npgsql keep them prepared on each connection.
            builder.MaxAutoPrepare = 32;
        }

        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        try
        {
            await MigrateAsync(dataSource, options.Schema, logger, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new PostgresDatabase(dataSource, options, logger);
    }

    /// <summary>Queues a grain write on its grain's lane and waits until it is committed (durable) or refused.</summary>
    public async Task<long> WriteAsync(PostgresGrainWrite write, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var lane = _lanes.Length == 1 ? _lanes[0] : _lanes[(uint)HashCode.Combine(write.GrainType, write.GrainKey) % (uint)_lanes.Length];
        write.CancelWhileQueued(cancellationToken);
        await lane.Loop.EnqueueAsync(write, cancellationToken).ConfigureAwait(false);
        return await write.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var lane in _lanes)
        {
            await lane.DisposeAsync().ConfigureAwait(false);
        }

        await DataSource.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task MigrateAsync(NpgsqlDataSource dataSource, string schema, ILogger logger, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        await using (var lockCommand = new NpgsqlCommand(PostgresSql.LockMigrations, connection, transaction))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter<string> { TypedValue = $"trellis.migrations.{schema}" });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // The schema name was validated as a plain lower-case identifier, so it needs no quoting.
        await ExecuteAsync(connection, transaction, $"CREATE SCHEMA IF NOT EXISTS {schema}", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, PostgresSql.CreateMigrations, cancellationToken).ConfigureAwait(false);

        var applied = new HashSet<int>();
        await using (var select = new NpgsqlCommand(PostgresSql.SelectMigrations, connection, transaction))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        foreach (var script in SchemaScript.Load("Postgres"))
        {
            if (applied.Contains(script.Id))
            {
                continue;
            }

            await ExecuteAsync(connection, transaction, script.Sql, cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand(PostgresSql.InsertMigration, connection, transaction);
            record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = script.Id });
            record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = script.Name });
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            LogMigrationApplied(logger, schema, script.Name);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL store (schema {Schema}): applied schema migration {Migration}")]
    private static partial void LogMigrationApplied(ILogger logger, string schema, string migration);
}
