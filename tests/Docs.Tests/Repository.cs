namespace Trellis.Docs.Tests;

/// <summary>The checkout the tests run in, and its READMEs.</summary>
public static class Repository
{
    /// <summary>The directory holding Cluster.sln, above the test's output directory.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>README.md and every project README (src/*, tests/*, bench), as paths relative to <see cref="Root"/> with
    /// forward slashes, in a stable order.</summary>
    public static IReadOnlyList<string> Readmes()
    {
        var found = new List<string> { "README.md" };
        foreach (var folder in new[] { "src", "tests" })
        {
            found.AddRange(System.IO.Directory.GetDirectories(Path.Combine(Root, folder))
                .Select(d => Path.Combine(d, "README.md"))
                .Where(File.Exists)
                .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/')));
        }

        if (File.Exists(Path.Combine(Root, "bench", "README.md")))
        {
            found.Add("bench/README.md");
        }

        return [.. found.Distinct().Order(StringComparer.Ordinal)];
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"no Cluster.sln above {AppContext.BaseDirectory}");
    }
}
