using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Trellis.Chaos.Tests;

/// <summary>One incarnation of a silo: a <c>dotnet Trellis.Silo.dll</c> OS process with its own log and activation log.
/// A silo restarted after a kill is a new incarnation on the same ports (Orleans tells them apart by the silo's
/// generation).</summary>
/// <remarks>The silo runs under a small <c>sh</c> watchdog that SIGKILLs it when the test process is gone, so a test host
/// killed by a hang timeout leaves no silo behind. <see cref="Kill"/> SIGKILLs the silo first, then its watchdog.</remarks>
internal sealed class SiloProcess : IDisposable
{
    // $0 the silo's dll, $1 the test process, $2 the pid file, then the silo's arguments.
    private const string Watchdog =
        "dll=$0; test=$1; pidfile=$2; shift 2; dotnet \"$dll\" \"$@\" & silo=$!; echo $silo > \"$pidfile\"; " +
        "while kill -0 \"$test\" 2>/dev/null && kill -0 $silo 2>/dev/null; do sleep 1; done; " +
        "kill -9 $silo 2>/dev/null; wait $silo";

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly string _pidFile;
    private DateTimeOffset? _exitedAt;

    private SiloProcess(string name, Process process, StreamWriter log, string activationLog, Uri url, string pidFile)
    {
        _pidFile = pidFile;
        Name = name;
        _process = process;
        _log = log;
        ActivationLog = activationLog;
        Url = url;
    }

    /// <summary>The name of this incarnation in the test's output and file names (slot and generation).</summary>
    public string Name { get; }

    public string ActivationLog { get; }

    /// <summary>The silo's HTTP listener (apps API, health).</summary>
    public Uri Url { get; }

    /// <summary>When the process was seen dead after a kill; null while it runs.</summary>
    public DateTimeOffset? KilledAt { get; private set; }

    /// <summary>When the process ended: killed, or seen exiting by itself (its watchdog notices within a second).</summary>
    public DateTimeOffset? EndedAt => KilledAt ?? _exitedAt;

    /// <summary>Whether the silo answered /readyz once: a silo that exits by itself before is a failed start, after is a
    /// silo declared dead by mistake (or crashed).</summary>
    public bool WasReady { get; set; }

    public bool HasExited => _process.HasExited;

    public static SiloProcess Start(string name, string directory, SiloPorts ports, IReadOnlyDictionary<string, string> settings)
    {
        var activationLog = Path.Combine(directory, $"{name}.activations.jsonl");
        var pidFile = Path.Combine(directory, $"{name}.pid");
        var url = new Uri($"http://127.0.0.1:{ports.Http}");
        var info = new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", Watchdog, SiloAssembly(), Environment.ProcessId.ToString(), pidFile },
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The child inherits this environment, TRELLIS_TEST_RUN included. A key with a dot (a logging category) cannot be an
        // environment variable that sh passes on, so it goes on the command line.
        foreach (var (key, value) in settings)
        {
            if (key.Contains('.', StringComparison.Ordinal))
            {
                info.ArgumentList.Add($"--{key}={value}");
            }
            else
            {
                info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
            }
        }

        info.Environment["Trellis__Grains__ActivationLog"] = activationLog;
        info.Environment["Trellis__Http__Url"] = url.ToString().TrimEnd('/');
        info.Environment["Trellis__Grpc__Url"] = $"http://127.0.0.1:{ports.Grpc}";
        info.Environment["Trellis__Cluster__SiloPort"] = ports.Silo.ToString();
        info.Environment["Trellis__Cluster__GatewayPort"] = ports.Gateway.ToString();
        info.Environment["DOTNET_gcServer"] = "0";

        var log = new StreamWriter(Path.Combine(directory, $"{name}.log")) { AutoFlush = true };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data is null ? null : "stderr: " + e.Data);
        var silo = new SiloProcess(name, process, log, activationLog, url, pidFile);
        process.Exited += (_, _) => silo._exitedAt ??= DateTimeOffset.UtcNow;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>The process's exit code once it exited by itself or was killed; null while it runs.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Four distinct loopback ports for each of <paramref name="slots"/> silo slots, nothing listening on any of
    /// them now (a slot keeps its ports across restarts after a kill).</summary>
    public static SiloPorts[] FreePorts(int slots)
    {
        // All listeners are open at once, so the system cannot hand out one port twice.
        var listeners = Enumerable.Range(0, 4 * slots).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var listener in listeners)
            {
                listener.Start();
            }

            var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
            return Enumerable.Range(0, slots)
                .Select(slot => new SiloPorts(ports[4 * slot], ports[4 * slot + 1], ports[4 * slot + 2], ports[4 * slot + 3]))
                .ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }

    /// <summary>SIGKILLs the silo, then its watchdog, and records when the silo was gone.</summary>
    /// <remarks>Not <c>Process.Kill(entireProcessTree)</c>: that SIGSTOPs each process before it SIGKILLs it, and a test
    /// process dying in between would leave a stopped silo behind.</remarks>
    public void Kill()
    {
        if (KilledAt is not null || _exitedAt is not null)
        {
            return; // killed already, or it ended by itself (it keeps KilledAt null)
        }

        var silo = File.Exists(_pidFile) && int.TryParse(File.ReadAllText(_pidFile).Trim(), out var pid) ? pid : (int?)null;
        if (silo is { } id && !_process.HasExited)
        {
            // The watchdog reaps a silo that died by itself only just before it exits, so while it runs the pid is the silo's.
            Signal.Kill(id);
        }

        try
        {
            _process.Kill(entireProcessTree: silo is null);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        _process.WaitForExit(10_000);
        // The watchdog is gone, so the silo (a zombie at most until init reaps it) is dead when its /proc entry is.
        for (var i = 0; silo is { } id2 && i < 200 && Signal.IsRunning(id2); i++)
        {
            Thread.Sleep(10);
        }

        KilledAt = DateTimeOffset.UtcNow;
    }

    public void Dispose()
    {
        Kill();
        _process.WaitForExit(2_000);
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Output after the test let go of the process.
            }
        }
    }

    /// <summary>The silo built beside this test (the project reference builds it in the same configuration).</summary>
    private static string SiloAssembly()
    {
        var configuration = typeof(SiloProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new InvalidOperationException($"no Cluster.sln above {AppContext.BaseDirectory}");
        }

        var path = Path.Combine(dir.FullName, "src", "Silo", "bin", configuration, "net10.0", "Trellis.Silo.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"the silo is not built at {path}", path);
    }

    private static class Signal
    {
        public static void Kill(int pid)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(); // SIGKILL, this process only
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // Already gone.
            }
        }

        /// <summary>True while the process exists and is not a zombie.</summary>
        public static bool IsRunning(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var state = stat[(stat.LastIndexOf(')') + 2)..];
                return state.Length > 0 && state[0] is not ('Z' or 'X');
            }
            catch (IOException)
            {
                return false;
            }
        }
    }
}

/// <summary>The ports of one silo slot: the HTTP API, gRPC, silo-to-silo and Orleans gateway.</summary>
internal sealed record SiloPorts(int Http, int Grpc, int Silo, int Gateway)
{
    public override string ToString() => $"http {Http}, grpc {Grpc}, silo {Silo}, gateway {Gateway}";
}
