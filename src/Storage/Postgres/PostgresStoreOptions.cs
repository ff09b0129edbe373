using System.Text.RegularExpressions;
using Trellis.Core.Persistence;

namespace Trellis.Storage.Postgres;

/// <summary>Options of the PostgreSQL store (section <c>Trellis:Storage:Postgres</c>).</summary>
public sealed partial class PostgresStoreOptions
{
    /// <summary>An Npgsql connection string, e.g. <c>Host=127.0.0.1;Port=5432;Username=trellis;Database=trellis</c>.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>The schema holding the store's tables; created when missing. Several clusters (or tests) can share a database with different schemas.</summary>
    public string Schema { get; set; } = "trellis";

    /// <summary>Writer connections committing grain writes in parallel batches; each grain always uses the same one, so its writes keep their order.</summary>
    /// <remarks>
    /// One is best while the server's CPU is the limit (bigger batches cost less per write: on 2 shared cores one lane
    /// did about twice the writes of four). Raise it when the WAL flush is the limit (slow disk, idle CPU): while one
    /// batch waits for its flush the others fill up, and the server flushes concurrent commits together.
    /// </remarks>
    public int WriterConnections { get; set; } = 1;

    public GrainStorageOptions Grains { get; set; } = new();

    /// <summary>Throws an ArgumentException naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new ArgumentException("Trellis:Storage:Postgres:ConnectionString is required (e.g. Host=127.0.0.1;Username=trellis;Database=trellis).", nameof(ConnectionString));
        }

        if (!SchemaName().IsMatch(Schema ?? ""))
        {
            throw new ArgumentException($"Trellis:Storage:Postgres:Schema '{Schema}' must be a lower-case identifier: a letter or '_', then letters, digits or '_' (at most 63).", nameof(Schema));
        }

        if (WriterConnections is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(WriterConnections), WriterConnections, "Trellis:Storage:Postgres:WriterConnections must be between 1 and 64.");
        }

        ArgumentNullException.ThrowIfNull(Grains);
        Grains.Validate();
    }

    // Lower-case only so the name needs no quoting and means the same everywhere (search_path, advisory lock key).
    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();
}
