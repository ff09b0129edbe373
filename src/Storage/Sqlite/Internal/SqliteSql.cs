namespace Trellis.Storage.Sqlite.Internal;

/// <summary>The SQLite dialect of every statement the store runs (the schema itself is in Sql/*.sql).</summary>
/// <remarks>Times are UTC ticks passed in by the store, so the injected TimeProvider decides expiry.</remarks>
internal static class SqliteSql
{
    /// <summary>Write-ahead logging: readers never wait for the writer, and a commit appends to one file. Persistent in the file.</summary>
    public const string JournalModeWal = "PRAGMA journal_mode = WAL;";

    // FULL: in WAL mode the log is fsynced at every commit, so an acknowledged write survives power loss
    // (NORMAL would only sync at checkpoints). https://sqlite.org/pragma.html#pragma_synchronous
    public const string SynchronousFull = "PRAGMA synchronous = FULL;";

    public const string CreateMigrations = """
        CREATE TABLE IF NOT EXISTS trellis_migrations (
            id         INTEGER PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at INTEGER NOT NULL
        );
        """;

    public const string SelectMigrations = "SELECT id FROM trellis_migrations;";

    public const string InsertMigration = "INSERT INTO trellis_migrations (id, name, applied_at) VALUES ($id, $name, $now);";

    // --- grain state -------------------------------------------------------------------------------------------
    // Each statement writes only when both the fence and the version match, so a refused write changes nothing and
    // the rest of its batch carries on. One changed row means success and the new version is expected + 1 (no
    // RETURNING: SQLite would build a temporary table for it on every write).

    public const string InsertState = """
        INSERT INTO grain_state (grain_type, grain_key, version, data, updated_at)
        SELECT $type, $key, 1, $data, $now
        WHERE EXISTS (SELECT 1 FROM shard_leases WHERE shard = $shard AND owner = $owner AND epoch = $epoch)
        ON CONFLICT (grain_type, grain_key) DO NOTHING;
        """;

    public const string UpdateState = """
        UPDATE grain_state SET version = version + 1, data = $data, updated_at = $now
        WHERE grain_type = $type AND grain_key = $key AND version = $expected
          AND EXISTS (SELECT 1 FROM shard_leases WHERE shard = $shard AND owner = $owner AND epoch = $epoch);
        """;

    /// <summary>Why a write was refused: the current version, and the lease's owner and epoch.</summary>
    public const string ExplainRefusal = """
        SELECT (SELECT version FROM grain_state WHERE grain_type = $type AND grain_key = $key),
               (SELECT owner FROM shard_leases WHERE shard = $shard),
               (SELECT epoch FROM shard_leases WHERE shard = $shard);
        """;

    public const string ReadState = "SELECT version, data FROM grain_state WHERE grain_type = $type AND grain_key = $key;";

    // --- leases --------------------------------------------------------------------------------------------------
    // In an UPSERT's SET and WHERE, bare column names are the row before the update; excluded.* is the new lease.

    public const string AcquireLease = """
        INSERT INTO shard_leases (shard, owner, epoch, expires_at) VALUES ($shard, $owner, 1, $expires)
        ON CONFLICT (shard) DO UPDATE SET
            epoch = CASE WHEN owner = excluded.owner AND expires_at > $now THEN epoch ELSE epoch + 1 END,
            owner = excluded.owner,
            expires_at = excluded.expires_at
        WHERE owner = '' OR owner = excluded.owner OR expires_at <= $now
        RETURNING shard, owner, epoch, expires_at;
        """;

    public const string RenewLease = """
        UPDATE shard_leases SET expires_at = $expires
        WHERE shard = $shard AND owner = $owner AND epoch = $epoch AND expires_at > $now
        RETURNING shard, owner, epoch, expires_at;
        """;

    public const string ReleaseLease = """
        UPDATE shard_leases SET owner = '', expires_at = $now
        WHERE shard = $shard AND owner = $owner AND epoch = $epoch;
        """;

    public const string ReadLeases = "SELECT shard, owner, epoch, expires_at FROM shard_leases ORDER BY shard;";

    // --- membership ----------------------------------------------------------------------------------------------
    // status: 0 Joining, 1 Active, 2 ShuttingDown, 3 Dead (SiloStatus); it only moves forward and Dead is final.

    public const string JoinSilo = """
        INSERT INTO silos (silo_id, address, started_at, last_heartbeat, status) VALUES ($id, $address, $now, $now, 0)
        ON CONFLICT (silo_id) DO UPDATE SET address = excluded.address, last_heartbeat = excluded.last_heartbeat
        WHERE status <> 3
        RETURNING silo_id, address, started_at, last_heartbeat, status;
        """;

    public const string HeartbeatSilo = "UPDATE silos SET last_heartbeat = $now WHERE silo_id = $id AND status <> 3;";

    public const string SetSiloStatus = "UPDATE silos SET status = $status WHERE silo_id = $id AND status <> 3 AND status <= $status;";

    public const string ReadSilos = "SELECT silo_id, address, started_at, last_heartbeat, status FROM silos ORDER BY silo_id;";

    public const string RemoveDeadSilos = "DELETE FROM silos WHERE status = 3 AND last_heartbeat < $cutoff;";

    // --- reminders -----------------------------------------------------------------------------------------------

    public const string UpsertReminder = """
        INSERT INTO reminders (grain_type, grain_key, name, shard, start_at, period_ticks, last_fired_at)
        VALUES ($type, $key, $name, $shard, $start, $period, $fired)
        ON CONFLICT (grain_type, grain_key, name) DO UPDATE SET
            shard = excluded.shard, start_at = excluded.start_at,
            period_ticks = excluded.period_ticks, last_fired_at = excluded.last_fired_at;
        """;

    public const string RemoveReminder = "DELETE FROM reminders WHERE grain_type = $type AND grain_key = $key AND name = $name;";

    public const string MarkReminderFired = "UPDATE reminders SET last_fired_at = $fired WHERE grain_type = $type AND grain_key = $key AND name = $name;";

    private const string ReminderColumns = "SELECT grain_type, grain_key, name, shard, start_at, period_ticks, last_fired_at FROM reminders";

    public const string ReadReminder = ReminderColumns + " WHERE grain_type = $type AND grain_key = $key AND name = $name;";

    public const string ReadRemindersByGrain = ReminderColumns + " WHERE grain_type = $type AND grain_key = $key ORDER BY name;";

    public const string ReadRemindersByShard = ReminderColumns + " WHERE shard = $shard ORDER BY grain_type, grain_key, name;";

    public const string ReadRemindersByShardRange = ReminderColumns + " WHERE shard >= $from AND shard < $to ORDER BY shard, grain_type, grain_key, name;";
}
