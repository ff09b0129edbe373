using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Core.Persistence;
using Trellis.Storage.Postgres.Internal;

namespace Trellis.Storage.Postgres;

/// <summary>The shared store for a cluster: grain state, leases, membership and reminders in one PostgreSQL schema.</summary>
/// <remarks>
/// Grain writes are committed by one writer connection in batches (group commit) with synchronous_commit=on and
/// acknowledged only after the commit returned. Lease expiry and heartbeat times come from the database server's
/// clock, so silos whose clocks disagree still agree on who holds a shard. The schema is created or migrated when
/// the store opens; concurrent openers take turns through an advisory lock.
/// </remarks>
public sealed class PostgresStateStore : IStateStore
{
    private readonly PostgresDatabase _database;

    private PostgresStateStore(PostgresDatabase database)
    {
        _database = database;
        GrainStorage = new PostgresGrainStorage(database);
        Leases = new PostgresLeaseTable(database);
        Membership = new PostgresMembershipTable(database);
        Reminders = new PostgresReminderTable(database);
    }

    public IGrainStorage GrainStorage { get; }

    public ILeaseTable Leases { get; }

    public IMembershipTable Membership { get; }

    public IReminderTable Reminders { get; }

    /// <summary>The schema holding the tables.</summary>
    public string Schema => _database.Schema;

    internal PostgresDatabase Database => _database;

    /// <summary>Connects, creates the schema and tables when missing, and applies pending migrations.</summary>
    public static async Task<PostgresStateStore> OpenAsync(PostgresStoreOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<PostgresStateStore>();
        var database = await PostgresDatabase.OpenAsync(options, logger, cancellationToken).ConfigureAwait(false);
        return new PostgresStateStore(database);
    }

    /// <summary>Commits every write already queued, then closes the connections.</summary>
    public ValueTask DisposeAsync() => _database.DisposeAsync();
}
