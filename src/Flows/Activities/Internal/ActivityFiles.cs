namespace Trellis.Flows.Activities.Internal;

/// <summary>File operations on activity directories.</summary>
internal static class ActivityFiles
{
    public static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: false);
            CopyMode(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(dir);
            if (name is ".git" or "node_modules" or "__pycache__")
            {
                continue;
            }

            CopyDirectory(dir, Path.Combine(to, name));
        }
    }

    /// <summary>An archive holding one top-level directory (and no manifest at its root) is moved up one level.</summary>
    public static void HoistSingleDirectory(string directory)
    {
        if (File.Exists(Path.Combine(directory, ActivityManifest.FileName)))
        {
            return;
        }

        var dirs = Directory.GetDirectories(directory);
        if (dirs.Length != 1 || Directory.GetFiles(directory).Length != 0)
        {
            return;
        }

        var inner = dirs[0];
        foreach (var entry in Directory.EnumerateFileSystemEntries(inner))
        {
            var target = Path.Combine(directory, Path.GetFileName(entry));
            if (Directory.Exists(entry))
            {
                Directory.Move(entry, target);
            }
            else
            {
                File.Move(entry, target);
            }
        }

        Directory.Delete(inner);
    }

    private static void CopyMode(string from, string to)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(to, File.GetUnixFileMode(from));
        }
    }
}
