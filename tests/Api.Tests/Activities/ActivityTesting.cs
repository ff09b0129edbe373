using Trellis.Cli;

namespace Trellis.Api.Tests.Activities;

/// <summary>Helpers of the activity tests: the CLI run in-process and the samples directory.</summary>
internal static class ActivityTesting
{
    public const string UpperId = "6f1c2e4a-8b3d-4c5e-9f7a-1b2c3d4e5f60";
    public const string TeeId = "b3e8f1d2-5a6c-4b7e-8d9f-0a1b2c3d4e5f";

    public sealed record Run(int Exit, string Out, string Err)
    {
        public override string ToString() => $"exit {Exit}\nstdout: {Out}\nstderr: {Err}";
    }

    public static async Task<Run> CliAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CliApp.RunAsync(args, output, error, TestContext.Current.CancellationToken);
        return new Run(exit, output.ToString(), error.ToString());
    }

    public static string SamplesDirectory => Path.Combine(RepoRoot(), "samples", "activities");

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

    /// <summary>A copy of a sample with its own id, name and role, so tests sharing a cluster do not meet.</summary>
    public static string UniqueCopy(string sample, string into, out string name)
    {
        name = $"{sample}-{Guid.NewGuid():N}"[..(sample.Length + 9)];
        var dir = Path.Combine(into, name);
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(Path.Combine(SamplesDirectory, sample)))
        {
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }

        var manifest = Trellis.Flows.Activities.ActivityManifest.Load(dir) with { Id = Guid.NewGuid(), Name = name };
        manifest.Save(dir);
        return dir;
    }
}
