using Npgsql;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using Trellis.Storage;

namespace Trellis.Storage.Postgres;

/// <summary>Options of one PostgreSQL group-commit grain storage provider (named options: one set per provider name).</summary>
public sealed class PostgresGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>An Npgsql connection string; the table goes in the first schema of its search path (as Orleans' own tables do).</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Writer connections committing batches in parallel; a state always uses the same one, so its writes keep their order.</summary>
    /// <remarks>One is best while the server's CPU is the limit (bigger batches cost less per write); more help when the
    /// WAL flush is the limit, since the server flushes concurrent commits together.</remarks>
    public int WriterConnections { get; set; } = 1;

    /// <summary>Largest serialized state, and the group-commit bounds of the writer.</summary>
    public GrainStorageOptions Limits { get; set; } = new();

    /// <summary>The serializer; when left null, the one registered under the provider's name, else the silo's <see cref="IGrainStorageSerializer"/>.</summary>
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;

    /// <summary>The silo lifecycle stage at which the provider connects and creates its table (and, on the way down, commits what is queued).</summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    /// <summary>Throws an <see cref="OrleansConfigurationException"/> naming the first invalid option.</summary>
    public void Validate(string name)
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new OrleansConfigurationException($"PostgreSQL grain storage '{name}': {nameof(ConnectionString)} is required (e.g. Host=127.0.0.1;Username=trellis;Database=trellis).");
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException invalid)
        {
            throw new OrleansConfigurationException($"PostgreSQL grain storage '{name}': {nameof(ConnectionString)} is not a valid Npgsql connection string: {invalid.Message}", invalid);
        }

        if (WriterConnections is < 1 or > 64)
        {
            throw new OrleansConfigurationException($"PostgreSQL grain storage '{name}': {nameof(WriterConnections)} must be between 1 and 64 (is {WriterConnections}).");
        }

        if (Limits is null)
        {
            throw new OrleansConfigurationException($"PostgreSQL grain storage '{name}': {nameof(Limits)} must be set.");
        }

        try
        {
            Limits.Validate();
        }
        catch (ArgumentException invalid)
        {
            throw new OrleansConfigurationException($"PostgreSQL grain storage '{name}': {invalid.Message}", invalid);
        }
    }
}
