namespace Trellis.Flows.Tests.Activities;

/// <summary>The sample activities in samples/activities, found from the repository root.</summary>
internal static class Samples
{
    public const string UpperId = "6f1c2e4a-8b3d-4c5e-9f7a-1b2c3d4e5f60";
    public const string ReverseId = "0d9a7b52-3e41-4f6a-8c2d-7e5b9a1c3f84";
    public const string TeeId = "b3e8f1d2-5a6c-4b7e-8d9f-0a1b2c3d4e5f";

    public static string Directory => Path.Combine(RepoRoot(), "samples", "activities");

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Cluster.sln above {AppContext.BaseDirectory}");
    }
}
