namespace Trellis.Storage.Postgres.Internal;

/// <summary>The PostgreSQL dialect of every statement the store runs (the schema itself is in Sql/*.sql).</summary>
/// <remarks>
/// Connections set search_path to the store's schema, so names are unqualified. Lease and membership times use the
/// server clock (statement_timestamp(): one value per statement), so silos with skewed clocks agree on expiry.
/// </remarks>
internal static class PostgresSql
{
    /// <summary>Serialises concurrent migrations of one schema (several silos starting at once).</summary>
    public const string LockMigrations = "SELECT pg_advisory_xact_lock(hashtext($1));";

    public const string CreateMigrations = """
        CREATE TABLE IF NOT EXISTS trellis_migrations (
            id         integer     PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        """;

    public const string SelectMigrations = "SELECT id FROM trellis_migrations;";

    public const string InsertMigration = "INSERT INTO trellis_migrations (id, name) VALUES ($1, $2);";

    // --- grain state -------------------------------------------------------------------------------------------
    // A batch runs as one statement per kind (create / update) over arrays, not one statement per write: the server
    // plans and executes once per batch. A write lands only when its fence and version match, so a refused write
    // changes nothing and the rest of the batch carries on; RETURNING tells which writes landed (the grain for a
    // create, the write's position in the arrays for an update). FOR SHARE
    // locks each lease row until the batch commits: a concurrent takeover waits for this commit, or has already
    // committed and then the fence no longer matches.
    // Arrays: $1 types, $2 keys, $3 data, $4 shards, $5 owners, $6 epochs [, $7 expected versions]

    public const string InsertStates = """
        INSERT INTO grain_state (grain_type, grain_key, version, data, updated_at)
        SELECT i.grain_type, i.grain_key, 1, i.data, clock_timestamp()
        FROM unnest($1::text[], $2::text[], $3::bytea[], $4::integer[], $5::text[], $6::bigint[])
             AS i (grain_type, grain_key, data, shard, owner, epoch)
        WHERE EXISTS (SELECT 1 FROM shard_leases l WHERE l.shard = i.shard AND l.owner = i.owner AND l.epoch = i.epoch FOR SHARE)
        ON CONFLICT (grain_type, grain_key) DO NOTHING
        RETURNING grain_type, grain_key
        """;

    public const string UpdateStates = """
        UPDATE grain_state AS g SET version = g.version + 1, data = i.data, updated_at = clock_timestamp()
        FROM unnest($1::text[], $2::text[], $3::bytea[], $4::integer[], $5::text[], $6::bigint[], $7::bigint[]) WITH ORDINALITY
             AS i (grain_type, grain_key, data, shard, owner, epoch, expected, position)
        WHERE g.grain_type = i.grain_type AND g.grain_key = i.grain_key AND g.version = i.expected
          AND EXISTS (SELECT 1 FROM shard_leases l WHERE l.shard = i.shard AND l.owner = i.owner AND l.epoch = i.epoch FOR SHARE)
        RETURNING i.position
        """;

    /// <summary>Why a write was refused: the current version, and the lease's owner and epoch. $1 type, $2 key, $3 shard.</summary>
    public const string ExplainRefusal = """
        SELECT (SELECT version FROM grain_state WHERE grain_type = $1 AND grain_key = $2),
               (SELECT owner FROM shard_leases WHERE shard = $3),
               (SELECT epoch FROM shard_leases WHERE shard = $3)
        """;

    public const string ReadState = "SELECT version, data FROM grain_state WHERE grain_type = $1 AND grain_key = $2";

    // --- leases --------------------------------------------------------------------------------------------------
    // In ON CONFLICT DO UPDATE, l.* is the row before the update and excluded.* the proposed lease.

    /// <summary>$1 shard, $2 owner, $3 ttl (interval).</summary>
    public const string AcquireLease = """
        INSERT INTO shard_leases AS l (shard, owner, epoch, expires_at) VALUES ($1, $2, 1, statement_timestamp() + $3)
        ON CONFLICT (shard) DO UPDATE SET
            epoch = CASE WHEN l.owner = excluded.owner AND l.expires_at > statement_timestamp() THEN l.epoch ELSE l.epoch + 1 END,
            owner = excluded.owner,
            expires_at = excluded.expires_at
        WHERE l.owner = '' OR l.owner = excluded.owner OR l.expires_at <= statement_timestamp()
        RETURNING l.shard, l.owner, l.epoch, l.expires_at
        """;

    /// <summary>$1 shard, $2 owner, $3 epoch, $4 ttl (interval).</summary>
    public const string RenewLease = """
        UPDATE shard_leases SET expires_at = statement_timestamp() + $4
        WHERE shard = $1 AND owner = $2 AND epoch = $3 AND expires_at > statement_timestamp()
        RETURNING shard, owner, epoch, expires_at
        """;

    /// <summary>$1 shard, $2 owner, $3 epoch.</summary>
    public const string ReleaseLease = """
        UPDATE shard_leases SET owner = '', expires_at = statement_timestamp()
        WHERE shard = $1 AND owner = $2 AND epoch = $3
        """;

    public const string ReadLeases = "SELECT shard, owner, epoch, expires_at FROM shard_leases ORDER BY shard";

    public const string Now = "SELECT statement_timestamp()";

    // --- membership ----------------------------------------------------------------------------------------------
    // status: 0 Joining, 1 Active, 2 ShuttingDown, 3 Dead (SiloStatus); it only moves forward and Dead is final.

    /// <summary>$1 silo id, $2 address.</summary>
    public const string JoinSilo = """
        INSERT INTO silos AS s (silo_id, address, started_at, last_heartbeat, status)
        VALUES ($1, $2, statement_timestamp(), statement_timestamp(), 0)
        ON CONFLICT (silo_id) DO UPDATE SET address = excluded.address, last_heartbeat = excluded.last_heartbeat
        WHERE s.status <> 3
        RETURNING s.silo_id, s.address, s.started_at, s.last_heartbeat, s.status
        """;

    public const string HeartbeatSilo = "UPDATE silos SET last_heartbeat = statement_timestamp() WHERE silo_id = $1 AND status <> 3";

    /// <summary>$1 silo id, $2 status.</summary>
    public const string SetSiloStatus = "UPDATE silos SET status = $2 WHERE silo_id = $1 AND status <> 3 AND status <= $2";

    public const string ReadSilos = """SELECT silo_id, address, started_at, last_heartbeat, status FROM silos ORDER BY silo_id COLLATE "C" """;

    /// <summary>$1 age (interval).</summary>
    public const string RemoveDeadSilos = "DELETE FROM silos WHERE status = 3 AND last_heartbeat < statement_timestamp() - $1";

    // --- reminders -----------------------------------------------------------------------------------------------

    /// <summary>$1 type, $2 key, $3 name, $4 shard, $5 start, $6 period ticks, $7 last fired.</summary>
    public const string UpsertReminder = """
        INSERT INTO reminders (grain_type, grain_key, name, shard, start_at, period_ticks, last_fired_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (grain_type, grain_key, name) DO UPDATE SET
            shard = excluded.shard, start_at = excluded.start_at,
            period_ticks = excluded.period_ticks, last_fired_at = excluded.last_fired_at
        """;

    public const string RemoveReminder = "DELETE FROM reminders WHERE grain_type = $1 AND grain_key = $2 AND name = $3";

    /// <summary>$1 type, $2 key, $3 name, $4 fired at.</summary>
    public const string MarkReminderFired = "UPDATE reminders SET last_fired_at = $4 WHERE grain_type = $1 AND grain_key = $2 AND name = $3";

    private const string ReminderColumns = "SELECT grain_type, grain_key, name, shard, start_at, period_ticks, last_fired_at FROM reminders";

    public const string ReadReminder = ReminderColumns + " WHERE grain_type = $1 AND grain_key = $2 AND name = $3";

    public const string ReadRemindersByGrain = ReminderColumns + """ WHERE grain_type = $1 AND grain_key = $2 ORDER BY name COLLATE "C" """;

    public const string ReadRemindersByShard = ReminderColumns + """ WHERE shard = $1 ORDER BY grain_type COLLATE "C", grain_key COLLATE "C", name COLLATE "C" """;

    public const string ReadRemindersByShardRange = ReminderColumns + """ WHERE shard >= $1 AND shard < $2 ORDER BY shard, grain_type COLLATE "C", grain_key COLLATE "C", name COLLATE "C" """;
}
