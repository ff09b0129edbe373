using Trellis.Core.Persistence;

namespace Trellis.Storage.Sqlite;

/// <summary>Options of the embedded SQLite store (section <c>Trellis:Storage:Sqlite</c>).</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>The database file; relative paths are taken from the working directory. Its folder is created when missing.</summary>
    public string Path { get; set; } = "data/trellis.db";

    /// <summary>How long a statement waits for another process holding the file's write lock before it fails.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public GrainStorageOptions Grains { get; set; } = new();

    /// <summary>Throws an ArgumentException naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new ArgumentException("Trellis:Storage:Sqlite:Path must name a database file.", nameof(Path));
        }

        if (BusyTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(BusyTimeout), BusyTimeout, "Trellis:Storage:Sqlite:BusyTimeout must be positive.");
        }

        ArgumentNullException.ThrowIfNull(Grains);
        Grains.Validate();
    }
}
