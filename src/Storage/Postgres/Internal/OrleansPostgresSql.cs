namespace Trellis.Storage.Postgres.Internal;

/// <summary>The statements of <see cref="PostgresGrainStorage"/> on its table <c>trellis_orleans_grain_state</c>.</summary>
/// <remarks>
/// Names are unqualified: the table lives in the first schema of the connection's search path, like the objects of
/// Orleans' own scripts (<see cref="OrleansSchema"/>). A batch writes with one statement per kind (create, update)
/// over arrays rather than one per write, so the server plans and executes once per batch; RETURNING tells which
/// writes landed. $1 is always the ServiceId and $2 the provider name.
/// </remarks>
internal static class OrleansPostgresSql
{
    /// <summary>Serialises concurrent table creation (silos starting together); any constant shared by every provider.</summary>
    public const string LockSchema = "SELECT pg_advisory_xact_lock(hashtext('trellis_orleans_grain_state'));";

    public const string Schema = """
        CREATE TABLE IF NOT EXISTS trellis_orleans_grain_state (
            service_id text        NOT NULL,
            provider   text        NOT NULL,
            grain_id   text        NOT NULL,  -- GrainId.ToString(): type/key
            state_name text        NOT NULL,
            version    bigint      NOT NULL,  -- the ETag; every write or clear adds one
            data       bytea       NULL,      -- NULL once cleared: the row stays so versions keep counting (no ABA)
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (service_id, provider, grain_id, state_name)
        );
        """;

    public const string ReadState = "SELECT version, data FROM trellis_orleans_grain_state WHERE service_id = $1 AND provider = $2 AND grain_id = $3 AND state_name = $4";

    /// <summary>Arrays: $3 grain ids, $4 state names, $5 data. A state already stored is left alone and not returned.</summary>
    public const string InsertStates = """
        INSERT INTO trellis_orleans_grain_state (service_id, provider, grain_id, state_name, version, data, updated_at)
        SELECT $1, $2, i.grain_id, i.state_name, 1, i.data, clock_timestamp()
        FROM unnest($3::text[], $4::text[], $5::bytea[]) AS i (grain_id, state_name, data)
        ON CONFLICT DO NOTHING
        RETURNING grain_id, state_name
        """;

    /// <summary>Arrays: $3 grain ids, $4 state names, $5 data (NULL clears), $6 expected versions; returns the positions (from 1) that landed.</summary>
    public const string UpdateStates = """
        UPDATE trellis_orleans_grain_state AS g SET version = g.version + 1, data = i.data, updated_at = clock_timestamp()
        FROM unnest($3::text[], $4::text[], $5::bytea[], $6::bigint[]) WITH ORDINALITY AS i (grain_id, state_name, data, expected, position)
        WHERE g.service_id = $1 AND g.provider = $2 AND g.grain_id = i.grain_id AND g.state_name = i.state_name AND g.version = i.expected
        RETURNING i.position
        """;

    /// <summary>Arrays: $3 grain ids, $4 state names; the stored version (NULL when none) per position, for refused writes.</summary>
    public const string StoredVersions = """
        SELECT i.position, g.version
        FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS i (grain_id, state_name, position)
        LEFT JOIN trellis_orleans_grain_state AS g
               ON g.service_id = $1 AND g.provider = $2 AND g.grain_id = i.grain_id AND g.state_name = i.state_name
        """;
}
