using Trellis.Core.Persistence;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;

namespace Trellis.Storage;

/// <summary>Which state store a silo uses.</summary>
public enum StateStoreProvider
{
    /// <summary>Process memory: nothing survives a restart; for tests and experiments.</summary>
    InMemory,

    /// <summary>An embedded SQLite file (the all-in-one default).</summary>
    Sqlite,

    /// <summary>A PostgreSQL database shared by the silos of a cluster.</summary>
    Postgres,
}

/// <summary>Store configuration (section <c>Trellis:Storage</c>, e.g. env <c>Trellis__Storage__Provider=Postgres</c>).</summary>
public sealed class StorageOptions
{
    public StateStoreProvider Provider { get; set; } = StateStoreProvider.Sqlite;

    public SqliteStoreOptions Sqlite { get; set; } = new();

    public PostgresStoreOptions Postgres { get; set; } = new();

    /// <summary>Grain write limits for the in-memory provider; the SQL providers read theirs from their own section.</summary>
    public GrainStorageOptions InMemory { get; set; } = new();

    /// <summary>Throws an ArgumentException naming the first invalid option of the chosen provider.</summary>
    public void Validate()
    {
        switch (Provider)
        {
            case StateStoreProvider.InMemory:
                InMemory.Validate();
                break;
            case StateStoreProvider.Sqlite:
                Sqlite.Validate();
                break;
            case StateStoreProvider.Postgres:
                Postgres.Validate();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(Provider), Provider, "Trellis:Storage:Provider must be InMemory, Sqlite or Postgres.");
        }
    }
}
