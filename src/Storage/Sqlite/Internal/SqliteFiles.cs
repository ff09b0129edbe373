using Microsoft.Extensions.Logging;
using Trellis.Storage;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>The SQLite files open in one silo, shared by path: grain storages and the reminder table on one file use one writer.</summary>
/// <remarks>
/// Two writer connections on one file would take turns on SQLite's file lock instead of sharing batches, so every
/// provider of a silo that names the same file gets the same <see cref="SqliteFile"/>. It closes when its last user
/// lets go. The writer's batch limits come from whichever user opened the file first.
/// </remarks>
internal sealed class SqliteFiles(TimeProvider time, ILoggerFactory loggerFactory)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _open = new(StringComparer.Ordinal);

    /// <summary>Opens the file (or shares the one already open) and returns a handle that closes it with its last user.</summary>
    public SqliteFileHandle Open(string path, TimeSpan busyTimeout, GrainStorageOptions limits)
    {
        var fullPath = Path.GetFullPath(path);
        lock (_lock)
        {
            if (!_open.TryGetValue(fullPath, out var entry))
            {
                // Opening a local file and creating three tables takes milliseconds; holding the lock meanwhile keeps
                // two providers starting together from opening two writers.
                entry = new Entry(SqliteFile.Open(fullPath, busyTimeout, limits, time, loggerFactory.CreateLogger<SqliteFile>()));
                _open.Add(fullPath, entry);
            }

            entry.Users++;
            return new SqliteFileHandle(this, fullPath, entry.File);
        }
    }

    internal ValueTask ReleaseAsync(string fullPath)
    {
        SqliteFile? closing = null;
        lock (_lock)
        {
            if (_open.TryGetValue(fullPath, out var entry) && --entry.Users == 0)
            {
                _open.Remove(fullPath);
                closing = entry.File;
            }
        }

        return closing?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    private sealed class Entry(SqliteFile file)
    {
        public SqliteFile File { get; } = file;

        public int Users { get; set; }
    }
}

/// <summary>One user's hold on a shared <see cref="SqliteFile"/>; disposing it more than once lets go only once.</summary>
internal sealed class SqliteFileHandle(SqliteFiles owner, string fullPath, SqliteFile file) : IAsyncDisposable
{
    private int _released;

    public SqliteFile File { get; } = file;

    public ValueTask DisposeAsync()
        => Interlocked.Exchange(ref _released, 1) == 0 ? owner.ReleaseAsync(fullPath) : ValueTask.CompletedTask;
}
