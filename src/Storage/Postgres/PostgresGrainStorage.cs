using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration.Overrides;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;
using Trellis.Storage.Postgres.Internal;

namespace Trellis.Storage.Postgres;

/// <summary>Orleans grain storage on PostgreSQL with group commit: ETags are row versions, and a write completes only after its batch's commit.</summary>
/// <remarks>
/// <para>Rows live in <c>trellis_orleans_grain_state</c> (created when missing), keyed by (ServiceId, provider name,
/// GrainId, state name). The ETag is the row's version: 1 after the first write, one more after every write or clear.
/// A clear keeps the row with no data (as Orleans' ADO.NET storage does when it does not delete on clear), so versions
/// keep counting and a writer holding a pre-clear ETag can never match again. A write or clear whose ETag is not the
/// stored one changes nothing and throws <see cref="InconsistentStateException"/>; a null ETag means "nothing stored
/// yet". These are the semantics of <see cref="Sqlite.SqliteGrainStorage"/>.</para>
/// <para>Writes queue for a writer connection that commits them in batches: one transaction and one WAL flush per
/// batch, with <c>synchronous_commit=on</c> whatever the server's default, so an acknowledged write survives a crash.
/// State is serialized with the provider's <see cref="IGrainStorageSerializer"/>.</para>
/// </remarks>
public sealed partial class PostgresGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    private readonly string _name;
    private readonly string _serviceId;
    private readonly PostgresGrainStorageOptions _options;
    private readonly IActivatorProvider _activators;
    private readonly ILogger _logger;
    private NpgsqlDataSource? _dataSource;
    private PostgresStateWriter? _writer;

    internal PostgresGrainStorage(string name, string serviceId, PostgresGrainStorageOptions options, IActivatorProvider activators, ILogger<PostgresGrainStorage> logger)
    {
        options.Validate(name);
        _name = name;
        _serviceId = serviceId;
        _options = options;
        _activators = activators;
        _logger = logger;
    }

    internal PostgresStateWriter Writer => _writer ?? throw NotStarted();

    internal NpgsqlDataSource DataSource => _dataSource ?? throw NotStarted();

    /// <summary>Creates the provider registered under <paramref name="name"/> (the factory <c>AddGrainStorage</c> calls).</summary>
    internal static PostgresGrainStorage Create(IServiceProvider services, string name)
        => new(
            name,
            services.GetProviderClusterOptions(name).Value.ServiceId,
            services.GetRequiredService<IOptionsMonitor<PostgresGrainStorageOptions>>().Get(name),
            services.GetRequiredService<IActivatorProvider>(),
            services.GetRequiredService<ILogger<PostgresGrainStorage>>());

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe($"{nameof(PostgresGrainStorage)}-{_name}", _options.InitStage, StartAsync, StopAsync);

    /// <summary>Connects, creates the table when missing and starts the writer.</summary>
    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_writer is not null)
        {
            return;
        }

        var builder = new NpgsqlConnectionStringBuilder(_options.ConnectionString);
        // An acknowledged write must survive a crash, whatever the server's or the role's default is.
        builder.Options = $"{builder.Options} -c synchronous_commit=on".Trim();
        if (builder.MaxAutoPrepare == 0)
        {
            // The same few statements run all the time: let Npgsql keep them prepared on each connection.
            builder.MaxAutoPrepare = 16;
        }

        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        try
        {
            await CreateTableAsync(dataSource, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _dataSource = dataSource;
        _writer = new PostgresStateWriter(dataSource, _serviceId, _name, _options.WriterConnections, _options.Limits, Conflict, _logger);
        LogStarted(_logger, _name, builder.Host ?? "", builder.Database ?? "", _serviceId);
    }

    /// <summary>Commits what is queued, then closes the connections.</summary>
    internal async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _writer, null) is { } writer)
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _dataSource, null) is { } dataSource)
        {
            await dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        => ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var grain = grainId.ToString();
        (long Version, byte[]? Data)? row;
        T? state;
        try
        {
            row = await ReadRowAsync(grain, stateName, cancellationToken).ConfigureAwait(false);
            state = row?.Data is { } data ? _options.GrainStorageSerializer.Deserialize<T>(new BinaryData(data)) : default;
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            LogReadFailed(_logger, error, _name, grain, stateName);
            throw;
        }

        // Like Orleans' own providers: a grain never written, or cleared, reads as a new instance of its state type,
        // and only stored data counts as an existing record. A cleared row still has a version, so it keeps its ETag.
        grainState.State = state ?? CreateInstance<T>();
        grainState.ETag = row is { } r ? FormatETag(r.Version) : null;
        grainState.RecordExists = row?.Data is not null;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        => WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var writer = Writer;
        var grain = grainId.ToString();
        var expected = ParseETag(grainState.ETag, grain, stateName);
        var data = Bytes(_options.GrainStorageSerializer.Serialize(grainState.State));
        if (data.Length > _options.Limits.MaxStateBytes)
        {
            throw new ArgumentException($"State '{stateName}' of grain {grain} is {data.Length} bytes serialized; PostgreSQL grain storage '{_name}' takes at most {_options.Limits.MaxStateBytes} (Limits.MaxStateBytes).", nameof(grainState));
        }

        long version;
        try
        {
            version = await writer.WriteAsync(new PostgresStateWrite(grain, stateName, data, expected, grainState.ETag), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not InconsistentStateException and not OperationCanceledException)
        {
            LogWriteFailed(_logger, error, _name, grain, stateName, grainState.ETag);
            throw;
        }

        grainState.ETag = FormatETag(version);
        grainState.RecordExists = true;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        => ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var writer = Writer;
        var grain = grainId.ToString();
        if (!grainState.RecordExists && grainState.ETag is null)
        {
            // The caller knows of nothing stored: look, as Orleans' ADO.NET storage does, rather than refuse a clear
            // that may find nothing to do.
            await ReadStateAsync(stateName, grainId, grainState, cancellationToken).ConfigureAwait(false);
            if (!grainState.RecordExists)
            {
                return;
            }
        }

        var expected = ParseETag(grainState.ETag, grain, stateName);
        long? version;
        try
        {
            if (expected == 0)
            {
                // Clearing with no ETag: fine when nothing was ever stored (nothing to write), a conflict when
                // something was. A look at one row is enough: it orders this clear before any later first write.
                if ((await ReadRowAsync(grain, stateName, cancellationToken).ConfigureAwait(false))?.Version is { } stored)
                {
                    throw Conflict(grain, stateName, grainState.ETag, stored);
                }

                version = null;
            }
            else
            {
                version = await writer.WriteAsync(new PostgresStateWrite(grain, stateName, null, expected, grainState.ETag), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception error) when (error is not InconsistentStateException and not OperationCanceledException)
        {
            LogClearFailed(_logger, error, _name, grain, stateName, grainState.ETag);
            throw;
        }

        grainState.ETag = version is { } v ? FormatETag(v) : null;
        grainState.RecordExists = false;
        grainState.State = CreateInstance<T>();
    }

    private async Task<(long Version, byte[]? Data)?> ReadRowAsync(string grain, string stateName, CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand(OrleansPostgresSql.ReadState);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _serviceId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _name });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = grain });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = stateName });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1));
    }

    private static async Task CreateTableAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // CREATE TABLE IF NOT EXISTS is not safe against itself: two silos starting together could both miss the
        // table and one would fail on the catalog's unique index. The lock makes the second wait and then find it.
        await using (var lockCommand = new NpgsqlCommand(OrleansPostgresSql.LockSchema, connection, transaction))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var create = new NpgsqlCommand(OrleansPostgresSql.Schema, connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The conflict a refused write gets, once the writer has read the version that made it miss.</summary>
    private Exception Conflict(PostgresStateWrite write, long? stored) => Conflict(write.GrainId, write.StateName, write.ETag, stored);

    private InconsistentStateException Conflict(string grain, string stateName, string? etag, long? stored)
    {
        var storedETag = stored is { } v ? FormatETag(v) : null;
        LogConflict(_logger, _name, grain, stateName, etag, storedETag);
        return new InconsistentStateException(
            $"PostgreSQL grain storage '{_name}': state '{stateName}' of grain {grain} is at ETag {storedETag ?? "(none)"}, but the operation expected {etag ?? "(none)"}; nothing was written.",
            storedETag,
            etag);
    }

    private long ParseETag(string? etag, string grain, string stateName)
    {
        if (etag is null)
        {
            return 0;
        }

        if (long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var version) && version > 0)
        {
            return version;
        }

        throw new InconsistentStateException(
            $"PostgreSQL grain storage '{_name}': ETag '{etag}' of state '{stateName}' of grain {grain} was not issued by this storage.",
            null,
            etag);
    }

    private InvalidOperationException NotStarted() => new($"PostgreSQL grain storage '{_name}' is not started (or already stopped).");

    private static string FormatETag(long version) => version.ToString(CultureInfo.InvariantCulture);

    private static byte[] Bytes(BinaryData data)
    {
        // BinaryData is immutable, so its array can be handed to the writer as is when it spans the whole array.
        var memory = data.ToMemory();
        return MemoryMarshal.TryGetArray(memory, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : memory.ToArray();
    }

    private T CreateInstance<T>() => _activators.GetActivator<T>().Create();

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL grain storage {Name} started on {Host}/{Database} (ServiceId {ServiceId}, group commit)")]
    private static partial void LogStarted(ILogger logger, string name, string host, string database, string serviceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "PostgreSQL grain storage {Name}: ETag conflict on state {StateName} of grain {GrainId}: expected {ETag}, stored {StoredETag}")]
    private static partial void LogConflict(ILogger logger, string name, string grainId, string stateName, string? etag, string? storedETag);

    [LoggerMessage(Level = LogLevel.Error, Message = "PostgreSQL grain storage {Name}: reading state {StateName} of grain {GrainId} failed")]
    private static partial void LogReadFailed(ILogger logger, Exception error, string name, string grainId, string stateName);

    [LoggerMessage(Level = LogLevel.Error, Message = "PostgreSQL grain storage {Name}: writing state {StateName} of grain {GrainId} (ETag {ETag}) failed")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string name, string grainId, string stateName, string? etag);

    [LoggerMessage(Level = LogLevel.Error, Message = "PostgreSQL grain storage {Name}: clearing state {StateName} of grain {GrainId} (ETag {ETag}) failed")]
    private static partial void LogClearFailed(ILogger logger, Exception error, string name, string grainId, string stateName, string? etag);
}
