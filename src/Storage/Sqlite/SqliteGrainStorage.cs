using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration.Overrides;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;
using Trellis.Storage.Sqlite.Internal;

namespace Trellis.Storage.Sqlite;

/// <summary>Orleans grain storage in a SQLite file: ETags are row versions, and a write completes only after its group commit is fsynced.</summary>
/// <remarks>
/// <para>Rows are keyed by (ServiceId, provider name, GrainId, state name). The ETag is the row's version: 1 after the
/// first write, one more after every write or clear. A clear keeps the row with no data (as Orleans' ADO.NET storage
/// does when it does not delete on clear), so versions keep counting and a writer holding a pre-clear ETag can never
/// match again. A write or clear whose ETag is not the stored one changes nothing and throws
/// <see cref="InconsistentStateException"/>; a null ETag means "nothing stored yet".</para>
/// <para>State is serialized with the provider's <see cref="IGrainStorageSerializer"/> (the Orleans 7+ way: the one
/// registered under the provider's name, else the silo's default).</para>
/// </remarks>
public sealed partial class SqliteGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    private readonly string _name;
    private readonly string _serviceId;
    private readonly SqliteGrainStorageOptions _options;
    private readonly SqliteFiles _files;
    private readonly IActivatorProvider _activators;
    private readonly ILogger _logger;
    private SqliteFileHandle? _file;

    internal SqliteGrainStorage(string name, string serviceId, SqliteGrainStorageOptions options, SqliteFiles files, IActivatorProvider activators, ILogger<SqliteGrainStorage> logger)
    {
        options.Validate(name);
        _name = name;
        _serviceId = serviceId;
        _options = options;
        _files = files;
        _activators = activators;
        _logger = logger;
    }

    /// <summary>The full path of the database file once the provider has started; null before.</summary>
    public string? FilePath => _file?.File.FilePath;

    internal SqliteFile File => _file?.File ?? throw new InvalidOperationException($"SQLite grain storage '{_name}' is not started (or already stopped).");

    /// <summary>Creates the provider registered under <paramref name="name"/> (the factory <c>AddGrainStorage</c> calls).</summary>
    internal static SqliteGrainStorage Create(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(name);
        var cluster = services.GetProviderClusterOptions(name).Value;
        return new SqliteGrainStorage(
            name,
            cluster.ServiceId,
            options,
            services.GetRequiredService<SqliteFiles>(),
            services.GetRequiredService<IActivatorProvider>(),
            services.GetRequiredService<ILogger<SqliteGrainStorage>>());
    }

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe($"{nameof(SqliteGrainStorage)}-{_name}", _options.InitStage, StartAsync, StopAsync);

    /// <summary>Opens the file (creating it and its tables when missing).</summary>
    internal Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _file ??= _files.Open(_options.Path, _options.BusyTimeout, _options.Limits);
        LogStarted(_logger, _name, _file.File.FilePath, _serviceId);
        return Task.CompletedTask;
    }

    /// <summary>Lets go of the file; it closes, after committing what is queued, once no other provider uses it.</summary>
    internal async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _file, null) is { } file)
        {
            await file.DisposeAsync().ConfigureAwait(false);
        }
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        => ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var file = File;
        var grain = grainId.ToString();
        byte[]? data = null;
        long? version = null;
        T? state;
        try
        {
            await using (var connection = await file.OpenReaderAsync(cancellationToken).ConfigureAwait(false))
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = OrleansSqliteSql.ReadState;
                BindKey(command, stateName, grain);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    version = reader.GetInt64(0);
                    data = reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1);
                }
            }

            state = data is null ? default : _options.GrainStorageSerializer.Deserialize<T>(new BinaryData(data));
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            LogReadFailed(_logger, error, _name, grain, stateName);
            throw;
        }

        // Like Orleans' own providers: a grain never written, or cleared, reads as a new instance of its state type,
        // and only stored data counts as an existing record. A cleared row still has a version, so it keeps its ETag.
        grainState.State = state ?? CreateInstance<T>();
        grainState.ETag = version is { } v ? FormatETag(v) : null;
        grainState.RecordExists = data is not null;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        => WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var file = File;
        var grain = grainId.ToString();
        var expected = ParseETag(grainState.ETag, grain, stateName);
        var data = Bytes(_options.GrainStorageSerializer.Serialize(grainState.State));
        if (data.Length > _options.Limits.MaxStateBytes)
        {
            throw new ArgumentException($"State '{stateName}' of grain {grain} is {data.Length} bytes serialized; SQLite grain storage '{_name}' takes at most {_options.Limits.MaxStateBytes} (Limits.MaxStateBytes).", nameof(grainState));
        }

        long version;
        try
        {
            version = await file.WriteAsync(session => Write(session, stateName, grain, data, expected, grainState.ETag), data.Length, cancellationToken).ConfigureAwait(false);
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
        var file = File;
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
        long version;
        try
        {
            version = await file.WriteAsync(session => Write(session, stateName, grain, null, expected, grainState.ETag), 0, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not InconsistentStateException and not OperationCanceledException)
        {
            LogClearFailed(_logger, error, _name, grain, stateName, grainState.ETag);
            throw;
        }

        grainState.ETag = version == 0 ? null : FormatETag(version);
        grainState.RecordExists = false;
        grainState.State = CreateInstance<T>();
    }

    /// <summary>Runs on the writer: stores <paramref name="data"/> (null clears) if the version is still <paramref name="expected"/>.</summary>
    /// <returns>The new version; 0 for a clear of a state that was never stored (nothing to do).</returns>
    private long Write(SqliteSession session, string stateName, string grain, byte[]? data, long expected, string? etag)
    {
        if (expected == 0)
        {
            if (data is null)
            {
                // Clearing with no ETag: fine when nothing was ever stored, a conflict when something was.
                return CurrentVersion(session, stateName, grain) is { } stored ? throw Conflict(grain, stateName, etag, stored) : 0;
            }

            var insert = session.Command(OrleansSqliteSql.InsertState);
            BindKey(insert, stateName, grain);
            insert.Set("$data", data);
            insert.Set("$now", session.NowTicks());
            return insert.ExecuteNonQuery() == 1 ? 1 : throw Conflict(grain, stateName, etag, CurrentVersion(session, stateName, grain));
        }

        var update = session.Command(OrleansSqliteSql.UpdateState);
        BindKey(update, stateName, grain);
        update.Set("$data", data);
        update.Set("$now", session.NowTicks());
        update.Set("$expected", expected);
        return update.ExecuteNonQuery() == 1 ? expected + 1 : throw Conflict(grain, stateName, etag, CurrentVersion(session, stateName, grain));
    }

    private long? CurrentVersion(SqliteSession session, string stateName, string grain)
    {
        var select = session.Command(OrleansSqliteSql.StateVersion);
        BindKey(select, stateName, grain);
        return select.ExecuteScalar() is long version ? version : null;
    }

    private InconsistentStateException Conflict(string grain, string stateName, string? etag, long? stored)
    {
        var storedETag = stored is { } v ? FormatETag(v) : null;
        LogConflict(_logger, _name, grain, stateName, etag, storedETag);
        return new InconsistentStateException(
            $"SQLite grain storage '{_name}': state '{stateName}' of grain {grain} is at ETag {storedETag ?? "(none)"}, but the operation expected {etag ?? "(none)"}; nothing was written.",
            storedETag,
            etag);
    }

    private void BindKey(Microsoft.Data.Sqlite.SqliteCommand command, string stateName, string grain)
    {
        command.Set("$service", _serviceId);
        command.Set("$provider", _name);
        command.Set("$grain", grain);
        command.Set("$state", stateName);
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
            $"SQLite grain storage '{_name}': ETag '{etag}' of state '{stateName}' of grain {grain} was not issued by this storage.",
            null,
            etag);
    }

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

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite grain storage {Name} started on {Path} (ServiceId {ServiceId})")]
    private static partial void LogStarted(ILogger logger, string name, string path, string serviceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "SQLite grain storage {Name}: ETag conflict on state {StateName} of grain {GrainId}: expected {ETag}, stored {StoredETag}")]
    private static partial void LogConflict(ILogger logger, string name, string grainId, string stateName, string? etag, string? storedETag);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name}: reading state {StateName} of grain {GrainId} failed")]
    private static partial void LogReadFailed(ILogger logger, Exception error, string name, string grainId, string stateName);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name}: writing state {StateName} of grain {GrainId} (ETag {ETag}) failed")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string name, string grainId, string stateName, string? etag);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name}: clearing state {StateName} of grain {GrainId} (ETag {ETag}) failed")]
    private static partial void LogClearFailed(ILogger logger, Exception error, string name, string grainId, string stateName, string? etag);
}
