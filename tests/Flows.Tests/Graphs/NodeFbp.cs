using System.Diagnostics;
using System.Text;
using Xunit;

namespace Trellis.Flows.Tests.Graphs;

/// <summary>The real npm <c>fbp</c> 1.8.0 (tests/Interop/node/node_modules/fbp, installed by scripts/deps.sh) run with
/// node, and the repository paths the graph tests use. A missing node or package fails the test.</summary>
internal static class NodeFbp
{
    private const string Hint = "run scripts/deps.sh (apt-get install -y nodejs npm; npm ci in tests/Interop/node)";

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Corpus => Path.Combine(RepoRoot, "tests", "Flows.Tests", "Graphs", "Corpus");

    public static string Package => Path.Combine(RepoRoot, "tests", "Interop", "node", "node_modules", "fbp");

    /// <summary><c>node fbp/bin/fbp FILE [--case-sensitive]</c>: exit code and stdout (UTF-8).</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> CliAsync(string file, bool caseSensitive)
    {
        RequirePackage();
        string[] args = caseSensitive ? [Path.Combine(Package, "bin", "fbp"), file, "--case-sensitive"] : [Path.Combine(Package, "bin", "fbp"), file];
        return RunAsync("node", args);
    }

    /// <summary>fbp's parse error for a file, as one line: "line L, column C: message" for a PEG.js syntax error,
    /// "Name: message" for anything else, "OK" when it parses.</summary>
    public static async Task<string> ErrorAsync(string file, bool caseSensitive)
    {
        RequirePackage();
        const string Script = """
            const fbp = require(process.argv[1]);
            try {
              fbp.parse(require('fs').readFileSync(process.argv[2], 'utf-8'), { caseSensitive: process.argv[3] === '1' });
              console.log('OK');
            } catch (e) {
              console.log(e.location ? `line ${e.location.start.line}, column ${e.location.start.column}: ${e.message}` : `${e.name}: ${e.message}`);
            }
            """;
        var run = await RunAsync("node", ["-e", Script, Package, file, caseSensitive ? "1" : "0"]);
        Assert.True(run.ExitCode == 0, $"node -e failed for {file}: {run.Stderr}");
        return run.Stdout.TrimEnd('\n');
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, string[] arguments)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not installed: {Hint}", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not exit within 60 s");
            }

            return (process.ExitCode, await stdout, await stderr);
        }
    }

    private static void RequirePackage() =>
        Assert.True(File.Exists(Path.Combine(Package, "lib", "fbp.js")), $"the npm package fbp is not installed in {Package}: {Hint}");

    private static string FindRepoRoot()
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
