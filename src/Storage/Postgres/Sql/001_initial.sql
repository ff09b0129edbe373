-- Runs with search_path set to the store's schema. Lease and membership times come from the server clock.
CREATE TABLE IF NOT EXISTS grain_state (
    grain_type text        NOT NULL,
    grain_key  text        NOT NULL,
    version    bigint      NOT NULL,
    data       bytea       NULL,  -- NULL once cleared; the row stays so versions keep counting
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (grain_type, grain_key)
);

CREATE TABLE IF NOT EXISTS shard_leases (
    shard      integer     PRIMARY KEY,
    owner      text        NOT NULL,  -- '' when released
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS silos (
    silo_id        text        PRIMARY KEY,
    address        text        NOT NULL,
    started_at     timestamptz NOT NULL,
    last_heartbeat timestamptz NOT NULL,
    status         smallint    NOT NULL
);

CREATE TABLE IF NOT EXISTS reminders (
    grain_type    text        NOT NULL,
    grain_key     text        NOT NULL,
    name          text        NOT NULL,
    shard         integer     NOT NULL,
    start_at      timestamptz NOT NULL,
    period_ticks  bigint      NOT NULL,
    last_fired_at timestamptz NULL,
    PRIMARY KEY (grain_type, grain_key, name)
);

CREATE INDEX IF NOT EXISTS reminders_by_shard ON reminders (shard, grain_type, grain_key, name);
