using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using Trellis.Storage;

namespace Trellis.Storage.Sqlite;

/// <summary>Options of one SQLite grain storage provider (named options: one set per provider name).</summary>
public sealed class SqliteGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>The file used when none is configured, relative to the working directory.</summary>
    public const string DefaultPath = "data/orleans.db";

    /// <summary>The database file; its folder is created when missing. Providers of a silo naming the same file share one writer.</summary>
    public string Path { get; set; } = DefaultPath;

    /// <summary>How long a statement waits for another process holding the file's write lock before it fails.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest serialized state, and the group-commit bounds of the writer (taken from the first provider that opens the file).</summary>
    public GrainStorageOptions Limits { get; set; } = new();

    /// <summary>The serializer; when left null, the one registered under the provider's name, else the silo's <see cref="IGrainStorageSerializer"/>.</summary>
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;

    /// <summary>The silo lifecycle stage at which the file is opened (and, on the way down, closed).</summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    /// <summary>Throws an <see cref="OrleansConfigurationException"/> naming the first invalid option.</summary>
    public void Validate(string name)
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new OrleansConfigurationException($"SQLite grain storage '{name}': {nameof(Path)} must name a database file.");
        }

        if (BusyTimeout <= TimeSpan.Zero)
        {
            throw new OrleansConfigurationException($"SQLite grain storage '{name}': {nameof(BusyTimeout)} must be positive (is {BusyTimeout}).");
        }

        if (Limits is null)
        {
            throw new OrleansConfigurationException($"SQLite grain storage '{name}': {nameof(Limits)} must be set.");
        }

        try
        {
            Limits.Validate();
        }
        catch (ArgumentException invalid)
        {
            throw new OrleansConfigurationException($"SQLite grain storage '{name}': {invalid.Message}", invalid);
        }
    }
}
