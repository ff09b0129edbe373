using System.Diagnostics;

namespace Trellis.Bench.Flows;

/// <summary>Stock msgflo-nodejs participants (bench/Flows/participants) as child processes, one per role, optionally
/// with Nagle's algorithm turned off by a preload (<c>nodelay.js</c>).</summary>
internal sealed class NodeParticipants : IAsyncDisposable
{
    private readonly List<Process> _processes = [];

    private NodeParticipants()
    {
    }

    public static string Repository { get; } = FindRepository();

    public static string NodeModules => Path.Combine(Repository, "tests", "Interop", "node", "node_modules");

    public static string Scripts => Path.Combine(Repository, "bench", "Flows", "participants");

    public static bool Available => Directory.Exists(Path.Combine(NodeModules, "msgflo-nodejs"));

    /// <summary>Starts one participant per (role, script) and returns once each has printed that it is connected.</summary>
    public static async Task<NodeParticipants> StartAsync(string broker, bool noDelay, params (string Role, string Script)[] roles)
    {
        var set = new NodeParticipants();
        try
        {
            foreach (var (role, script) in roles)
            {
                var info = new ProcessStartInfo("node")
                {
                    WorkingDirectory = Scripts,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                if (noDelay)
                {
                    info.ArgumentList.Add("-r");
                    info.ArgumentList.Add("./nodelay.js");
                }

                info.ArgumentList.Add(Path.Combine(NodeModules, "msgflo-nodejs", "bin", "msgflo-nodejs"));
                info.ArgumentList.Add("--name");
                info.ArgumentList.Add(role);
                info.ArgumentList.Add($"./{script}.js");
                info.Environment["NODE_PATH"] = NodeModules;
                info.Environment["MSGFLO_BROKER"] = broker;
                var process = Process.Start(info) ?? throw new InvalidOperationException("could not start node");
                set._processes.Add(process);
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                if (line is null || !line.Contains("connected", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"participant {role} did not connect: {line} {await process.StandardError.ReadToEndAsync()}");
                }
            }

            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    public static async Task<string> RunToolAsync(string tool, params string[] args)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(NodeModules, ".bin", tool));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["NODE_PATH"] = NodeModules;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {tool}");
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{tool} failed ({process.ExitCode}): {errors}");
    }

    public ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            try
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            p.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
