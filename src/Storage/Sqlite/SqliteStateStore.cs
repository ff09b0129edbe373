using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Core.Persistence;
using Trellis.Storage.Sqlite.Internal;

namespace Trellis.Storage.Sqlite;

/// <summary>The embedded default store: one SQLite file (WAL, synchronous=FULL) holding grain state, leases, membership and reminders.</summary>
/// <remarks>
/// Every write is committed by one writer in batches (group commit) and acknowledged only after its commit is fsynced.
/// The schema is created or migrated when the store opens. Lease expiry and heartbeat times come from the injected
/// <see cref="TimeProvider"/>: the file is only shared by processes on one host, which share that host's clock.
/// </remarks>
public sealed class SqliteStateStore : IStateStore
{
    private readonly SqliteDatabase _database;

    private SqliteStateStore(SqliteDatabase database)
    {
        _database = database;
        GrainStorage = new SqliteGrainStorage(database);
        Leases = new SqliteLeaseTable(database);
        Membership = new SqliteMembershipTable(database);
        Reminders = new SqliteReminderTable(database);
    }

    public IGrainStorage GrainStorage { get; }

    public ILeaseTable Leases { get; }

    public IMembershipTable Membership { get; }

    public IReminderTable Reminders { get; }

    /// <summary>The full path of the database file.</summary>
    public string FilePath => _database.FilePath;

    internal SqliteDatabase Database => _database;

    /// <summary>Opens (creating when missing) the database file and brings its schema up to date.</summary>
    public static Task<SqliteStateStore> OpenAsync(SqliteStoreOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SqliteStateStore>();

        // Microsoft.Data.Sqlite is synchronous underneath; opening and migrating a local file takes milliseconds.
        var database = SqliteDatabase.Open(options, timeProvider ?? TimeProvider.System, logger);
        return Task.FromResult(new SqliteStateStore(database));
    }

    /// <summary>Commits every write already queued, then closes the file.</summary>
    public ValueTask DisposeAsync() => _database.DisposeAsync();
}
