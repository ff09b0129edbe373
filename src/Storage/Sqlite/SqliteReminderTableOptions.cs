using Orleans.Runtime;

namespace Trellis.Storage.Sqlite;

/// <summary>Options of the SQLite reminder table.</summary>
public sealed class SqliteReminderTableOptions
{
    /// <summary>The database file; its folder is created when missing. It may be the grain storage's file: they then share one writer.</summary>
    public string Path { get; set; } = SqliteGrainStorageOptions.DefaultPath;

    /// <summary>How long a statement waits for another process holding the file's write lock before it fails.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws an <see cref="OrleansConfigurationException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new OrleansConfigurationException($"SQLite reminder table: {nameof(Path)} must name a database file.");
        }

        if (BusyTimeout <= TimeSpan.Zero)
        {
            throw new OrleansConfigurationException($"SQLite reminder table: {nameof(BusyTimeout)} must be positive (is {BusyTimeout}).");
        }
    }
}
