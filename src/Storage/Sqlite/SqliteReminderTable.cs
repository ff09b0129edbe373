using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Trellis.Storage.Sqlite.Internal;

namespace Trellis.Storage.Sqlite;

/// <summary>The Orleans reminder table in a SQLite file, written through the same group-commit writer as the grain storage.</summary>
/// <remarks>
/// Rows are keyed by (ServiceId, GrainId, reminder name) and carry the grain's uniform hash as an unsigned value, so the
/// reminder service's ring ranges are plain comparisons. ETags come from one counter per file and are never reused,
/// so an ETag of a removed reminder cannot remove its re-created successor.
/// </remarks>
public sealed partial class SqliteReminderTable : IReminderTable
{
    private readonly string _serviceId;
    private readonly SqliteReminderTableOptions _options;
    private readonly SqliteFiles _files;
    private readonly ILogger _logger;
    private SqliteFileHandle? _file;

    internal SqliteReminderTable(string serviceId, SqliteReminderTableOptions options, SqliteFiles files, ILogger<SqliteReminderTable> logger)
    {
        options.Validate();
        _serviceId = serviceId;
        _options = options;
        _files = files;
        _logger = logger;
    }

    /// <summary>The full path of the database file once the table has started; null before.</summary>
    public string? FilePath => _file?.File.FilePath;

    internal SqliteFile File => _file?.File ?? throw new InvalidOperationException("The SQLite reminder table is not started (or already stopped).");

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _file ??= _files.Open(_options.Path, _options.BusyTimeout, new());
        LogStarted(_logger, _file.File.FilePath, _serviceId);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _file, null) is { } file)
        {
            await file.DisposeAsync().ConfigureAwait(false);
        }
    }

    public Task<ReminderTableData> ReadRows(GrainId grainId) => ReadRows(grainId, CancellationToken.None);

    public Task<ReminderTableData> ReadRows(GrainId grainId, CancellationToken cancellationToken)
        => QueryAsync(OrleansSqliteSql.ReadRemindersOfGrain, command => command.Set("$grain", grainId.ToString()), cancellationToken);

    public Task<ReminderTableData> ReadRows(uint begin, uint end) => ReadRows(begin, end, CancellationToken.None);

    /// <summary>Reads the reminders whose grain hash is in (begin, end]; when begin &gt;= end the range wraps around the ring (begin = end is all of it).</summary>
    public Task<ReminderTableData> ReadRows(uint begin, uint end, CancellationToken cancellationToken)
        => QueryAsync(begin < end ? OrleansSqliteSql.ReadRemindersInRange : OrleansSqliteSql.ReadRemindersOutsideRange, command =>
        {
            command.Set("$begin", (long)begin);
            command.Set("$end", (long)end);
        }, cancellationToken);

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) => ReadRow(grainId, reminderName, CancellationToken.None);

    public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName, CancellationToken cancellationToken)
    {
        var found = await QueryAsync(OrleansSqliteSql.ReadReminder, command =>
        {
            command.Set("$grain", grainId.ToString());
            command.Set("$name", reminderName);
        }, cancellationToken).ConfigureAwait(false);
        return found.Reminders.Count == 0 ? null : found.Reminders[0];
    }

    public Task<string?> UpsertRow(ReminderEntry entry) => UpsertRow(entry, CancellationToken.None);

    public async Task<string?> UpsertRow(ReminderEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentException.ThrowIfNullOrEmpty(entry.ReminderName);
        var grain = entry.GrainId.ToString();
        long hash = entry.GrainId.GetUniformHashCode();
        // Orleans hands over UTC times; an unspecified kind is taken as UTC, as its ADO.NET table does.
        var start = entry.StartAt.Kind == DateTimeKind.Local ? entry.StartAt.ToUniversalTime().Ticks : entry.StartAt.Ticks;
        var period = entry.Period.Ticks;
        var name = entry.ReminderName;
        var etag = await File.WriteAsync(session =>
        {
            var next = (long)session.Command(OrleansSqliteSql.NextReminderETag).ExecuteScalar()!;
            var upsert = session.Command(OrleansSqliteSql.UpsertReminder);
            upsert.Set("$service", _serviceId);
            upsert.Set("$grain", grain);
            upsert.Set("$name", name);
            upsert.Set("$hash", hash);
            upsert.Set("$start", start);
            upsert.Set("$period", period);
            upsert.Set("$etag", next);
            upsert.ExecuteNonQuery();
            return next;
        }, 0, cancellationToken).ConfigureAwait(false);
        return FormatETag(etag);
    }

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) => RemoveRow(grainId, reminderName, eTag, CancellationToken.None);

    /// <summary>Removes the reminder if its ETag is still <paramref name="eTag"/>; false when it is not, or the reminder does not exist.</summary>
    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag, CancellationToken cancellationToken)
    {
        if (!long.TryParse(eTag, NumberStyles.None, CultureInfo.InvariantCulture, out var expected))
        {
            // Not an ETag this table issued, so it matches no row.
            return Task.FromResult(false);
        }

        var grain = grainId.ToString();
        return File.WriteAsync(session =>
        {
            var remove = session.Command(OrleansSqliteSql.RemoveReminder);
            remove.Set("$service", _serviceId);
            remove.Set("$grain", grain);
            remove.Set("$name", reminderName);
            remove.Set("$etag", expected);
            return remove.ExecuteNonQuery() == 1;
        }, 0, cancellationToken);
    }

    public Task TestOnlyClearTable() => TestOnlyClearTable(CancellationToken.None);

    /// <summary>Deletes every reminder of this ServiceId.</summary>
    public Task TestOnlyClearTable(CancellationToken cancellationToken)
        => File.WriteAsync(session =>
        {
            var clear = session.Command(OrleansSqliteSql.ClearReminders);
            clear.Set("$service", _serviceId);
            return clear.ExecuteNonQuery();
        }, 0, cancellationToken);

    private async Task<ReminderTableData> QueryAsync(string sql, Action<SqliteCommand> bind, CancellationToken cancellationToken)
    {
        var file = File;
        await using var connection = await file.OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Set("$service", _serviceId);
        bind(command);
        var found = new List<ReminderEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            found.Add(new ReminderEntry
            {
                GrainId = GrainId.Parse(reader.GetString(0)),
                ReminderName = reader.GetString(1),
                StartAt = new DateTime(reader.GetInt64(2), DateTimeKind.Utc),
                Period = TimeSpan.FromTicks(reader.GetInt64(3)),
                ETag = FormatETag(reader.GetInt64(4)),
            });
        }

        return new ReminderTableData(found);
    }

    private static string FormatETag(long etag) => etag.ToString(CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite reminder table started on {Path} (ServiceId {ServiceId})")]
    private static partial void LogStarted(ILogger logger, string path, string serviceId);
}
