using System.Collections.Concurrent;
using System.Diagnostics;

namespace Trellis.Api.Tests.Flows;

/// <summary>A stock msgflo-nodejs participant (a module of tests/Interop/flows run by msgflo-nodejs' own CLI) on the
/// test broker, announcing itself every second or so; disposing kills it.</summary>
public sealed class MsgFloParticipant : IAsyncDisposable
{
    private const string Hint = "run scripts/deps.sh (apt-get install -y nodejs npm; npm ci in tests/Interop/node)";
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private MsgFloParticipant(Process process, string role)
    {
        _process = process;
        Role = role;
    }

    public string Role { get; }

    /// <summary>What the process printed (stdout and stderr), for failure messages.</summary>
    public string Output => string.Join("\n", _output);

        /// <summary>Starts <paramref name="module"/> (e.g. <c>repeat.js</c>) as role <paramref name="role"/> on <paramref name="broker"/>.</summary>
    public static MsgFloParticipant Start(string module, string role, string broker, IDictionary<string, string>? environment = null)
    {
        var root = RepoRoot();
        var cli = Path.Combine(root, "tests", "Interop", "node", "node_modules", "msgflo-nodejs", "bin", "msgflo-nodejs");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"msgflo-nodejs is not installed at {cli}: {Hint}");
        }

        var flows = Path.Combine(root, "tests", "Interop", "flows");
        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = flows,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(cli);
        info.ArgumentList.Add("--name");
        info.ArgumentList.Add(role);
        info.ArgumentList.Add(Path.Combine(flows, module));
        info.Environment["MSGFLO_BROKER"] = broker;
        info.Environment["MSGFLO_DISCOVERY_PERIOD"] = "2";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start node for {module}: {Hint}");
        var participant = new MsgFloParticipant(process, role);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) participant._output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) participant._output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return participant;
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    internal static string RepoRoot()
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
