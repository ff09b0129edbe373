-- Times are UTC ticks (100 ns) from the store's TimeProvider: exact round trips, and integer comparisons for expiry.
CREATE TABLE IF NOT EXISTS grain_state (
    grain_type TEXT    NOT NULL,
    grain_key  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    data       BLOB    NULL,      -- NULL once cleared; the row stays so versions keep counting
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (grain_type, grain_key)
);

CREATE TABLE IF NOT EXISTS shard_leases (
    shard      INTEGER PRIMARY KEY,
    owner      TEXT    NOT NULL,  -- '' when released
    epoch      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS silos (
    silo_id        TEXT    PRIMARY KEY,
    address        TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    status         INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS reminders (
    grain_type    TEXT    NOT NULL,
    grain_key     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    shard         INTEGER NOT NULL,
    start_at      INTEGER NOT NULL,
    period_ticks  INTEGER NOT NULL,
    last_fired_at INTEGER NULL,
    PRIMARY KEY (grain_type, grain_key, name)
);

CREATE INDEX IF NOT EXISTS reminders_by_shard ON reminders (shard, grain_type, grain_key, name);
