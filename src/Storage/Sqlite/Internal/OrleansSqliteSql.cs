namespace Trellis.Storage.Sqlite.Internal;

/// <summary>The schema and every statement of the SQLite grain storage and reminder table.</summary>
/// <remarks>
/// The tables are our own (prefixed <c>orleans_</c>), so they may share a file with Trellis' state store without
/// meeting its tables. Times are UTC ticks (100 ns), so they round-trip exactly and compare as integers.
/// </remarks>
internal static class OrleansSqliteSql
{
    /// <summary>Write-ahead logging: readers never wait for the writer, and a commit appends to one file. Persistent in the file.</summary>
    public const string JournalModeWal = "PRAGMA journal_mode = WAL;";

    // FULL: in WAL mode the log is fsynced at every commit, so an acknowledged write survives power loss
    // (NORMAL would only sync at checkpoints). https://sqlite.org/pragma.html#pragma_synchronous
    public const string SynchronousFull = "PRAGMA synchronous = FULL;";

    public const string Schema = """
        CREATE TABLE IF NOT EXISTS orleans_grain_state (
            service_id TEXT    NOT NULL,
            provider   TEXT    NOT NULL,
            grain_id   TEXT    NOT NULL,  -- GrainId.ToString(): type/key
            state_name TEXT    NOT NULL,
            version    INTEGER NOT NULL,  -- the ETag; every write or clear adds one
            data       BLOB    NULL,      -- NULL once cleared: the row stays so versions keep counting (no ABA)
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (service_id, provider, grain_id, state_name)
        );

        CREATE TABLE IF NOT EXISTS orleans_reminders (
            service_id TEXT    NOT NULL,
            grain_id   TEXT    NOT NULL,
            name       TEXT    NOT NULL,
            grain_hash INTEGER NOT NULL,  -- GrainId.GetUniformHashCode(), 0 .. 2^32-1 (unsigned, so ranges compare directly)
            start_at   INTEGER NOT NULL,
            period     INTEGER NOT NULL,  -- ticks
            etag       INTEGER NOT NULL,  -- from orleans_counters: never reused, even after a delete
            PRIMARY KEY (service_id, grain_id, name)
        );

        CREATE INDEX IF NOT EXISTS orleans_reminders_by_hash ON orleans_reminders (service_id, grain_hash);

        CREATE TABLE IF NOT EXISTS orleans_counters (
            name  TEXT    PRIMARY KEY,
            value INTEGER NOT NULL
        );
        """;

    // --- grain state ---------------------------------------------------------------------------------------------
    // A write lands only when the version matches; a refused write changes nothing, so the rest of its batch goes on.

    private const string StateKey = "service_id = $service AND provider = $provider AND grain_id = $grain AND state_name = $state";

    public const string ReadState = "SELECT version, data FROM orleans_grain_state WHERE " + StateKey + ";";

    public const string StateVersion = "SELECT version FROM orleans_grain_state WHERE " + StateKey + ";";

    public const string InsertState = """
        INSERT INTO orleans_grain_state (service_id, provider, grain_id, state_name, version, data, updated_at)
        VALUES ($service, $provider, $grain, $state, 1, $data, $now)
        ON CONFLICT DO NOTHING;
        """;

    /// <summary>Replaces the data (NULL clears it) and adds one to the version, if the version is still $expected.</summary>
    public const string UpdateState = "UPDATE orleans_grain_state SET version = version + 1, data = $data, updated_at = $now WHERE " + StateKey + " AND version = $expected;";

    // --- reminders -----------------------------------------------------------------------------------------------

    /// <summary>The next reminder ETag of the file: unique across rows and time, so a deleted and re-created reminder never matches an old ETag.</summary>
    public const string NextReminderETag = """
        INSERT INTO orleans_counters (name, value) VALUES ('reminder_etag', 1)
        ON CONFLICT (name) DO UPDATE SET value = value + 1
        RETURNING value;
        """;

    public const string UpsertReminder = """
        INSERT INTO orleans_reminders (service_id, grain_id, name, grain_hash, start_at, period, etag)
        VALUES ($service, $grain, $name, $hash, $start, $period, $etag)
        ON CONFLICT (service_id, grain_id, name) DO UPDATE SET
            grain_hash = excluded.grain_hash, start_at = excluded.start_at, period = excluded.period, etag = excluded.etag;
        """;

    public const string RemoveReminder = "DELETE FROM orleans_reminders WHERE service_id = $service AND grain_id = $grain AND name = $name AND etag = $etag;";

    public const string ClearReminders = "DELETE FROM orleans_reminders WHERE service_id = $service;";

    private const string ReminderColumns = "SELECT grain_id, name, start_at, period, etag FROM orleans_reminders WHERE service_id = $service";

    public const string ReadReminder = ReminderColumns + " AND grain_id = $grain AND name = $name;";

    public const string ReadRemindersOfGrain = ReminderColumns + " AND grain_id = $grain;";

    /// <summary>The hashes in (begin, end] when begin &lt; end.</summary>
    public const string ReadRemindersInRange = ReminderColumns + " AND grain_hash > $begin AND grain_hash <= $end;";

    /// <summary>The ring wraps (begin &gt;= end): the hashes above begin and those up to end; begin = end is the whole ring.</summary>
    public const string ReadRemindersOutsideRange = ReminderColumns + " AND (grain_hash > $begin OR grain_hash <= $end);";
}
