using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Trellis.Edge.Local;
using Trellis.Edge.Tests.Publish;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Edge.Published;

/// <summary>A published agent running as a process of its own (<c>trellis-edge daemon</c>) in its own home: its output
/// collected for failure messages, its local API through the socket, and every process it leaves behind (a successor an
/// update started, its jobs) found by its home and killed on dispose.</summary>
internal sealed class AgentProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private readonly Process _process;
    private readonly Task _reading;
    private int _disposed;

    private AgentProcess(PublishedAgent agent, string home, Process process)
    {
        Agent = agent;
        Home = home;
        _process = process;
        process.StandardInput.Close();
        _reading = Task.WhenAll(ReadAsync(process.StandardOutput), ReadAsync(process.StandardError));
        Local = new LocalClient(SocketPath, TimeSpan.FromSeconds(60));
    }

    public PublishedAgent Agent { get; }

    /// <summary>The agent's work directory (--home).</summary>
    public string Home { get; }

    public string SocketPath => Path.Combine(Home, "agent.sock");

    /// <summary>The process the test started (an update's successor is another one).</summary>
    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The local API on the agent's socket, as a program on the device calls it.</summary>
    public LocalClient Local { get; }

    /// <summary>What the agent (and any successor, which inherits its output) printed so far.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts <c>trellis-edge daemon ARGS --home HOME</c>; with <paramref name="executable"/> a copy of the published
    /// native executable runs instead of the cached one (an update replaces the file it runs from).</summary>
    public static AgentProcess Start(PublishedAgent agent, string home, IEnumerable<string> arguments, string? executable = null)
    {
        var info = agent.StartInfo(["--home", home, "daemon", .. arguments]);
        if (executable is not null)
        {
            Assert.False(agent.Emulated, "a copy of the executable runs natively only");
            info.FileName = executable;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start");
        return new AgentProcess(agent, home, process);
    }

    private async Task ReadAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            _output.Enqueue(line);
        }
    }

    /// <summary>Calls the local API; a socket nobody serves yet answers status 0 with the error.</summary>
    public async Task<(int Status, string Body)> TryLocalAsync(HttpMethod method, string path, JsonNode? body = null)
    {
        try
        {
            return await Local.SendAsync(method, path, body, TestContext.Current.CancellationToken);
        }
        catch (HttpRequestException e)
        {
            return (0, e.Message);
        }
    }

    /// <summary>Waits until the agent's local API answers GET /v1/info with <paramref name="done"/> true.</summary>
    public Task<JsonNode> InfoAsync(Func<JsonNode, bool> done, string what, TimeSpan timeout) =>
        UntilAsync(async () =>
        {
            var (status, body) = await TryLocalAsync(HttpMethod.Get, "/v1/info");
            return status == 200 ? JsonNode.Parse(body)! : new JsonObject { ["status"] = status, ["error"] = body };
        }, done, what, timeout);

    /// <summary><see cref="Waits.UntilAsync"/> whose timeout message also carries the agent's output.</summary>
    public async Task<T> UntilAsync<T>(Func<Task<T>> observe, Func<T, bool> done, string what, TimeSpan timeout)
    {
        try
        {
            return await Waits.UntilAsync(observe, done, what, timeout);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n--- agent output ---\n{Output}", e);
        }
    }

    /// <summary>Ends the process the test started at once (SIGKILL), as a crash or power loss would.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync(TestContext.Current.CancellationToken).Within($"{Agent} (pid {Pid}) to end after SIGKILL");
    }

    /// <summary>The processes running from this agent's home: agents started with --home HOME (this one, a successor) and
    /// the jobs whose pid files are in it.</summary>
    public IReadOnlyList<int> Leftovers()
    {
        var pids = new HashSet<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != Environment.ProcessId && CommandLine(pid) is { } args
                && args.Contains(Home, StringComparer.Ordinal))
            {
                pids.Add(pid);
            }
        }

        if (Directory.Exists(Home))
        {
            foreach (var file in Directory.EnumerateFiles(Home, "*pid", SearchOption.AllDirectories))
            {
                if (Path.GetFileName(file) is "pid" or "wrapper.pid" or "runner.pid" && int.TryParse(ReadQuietly(file), out var pid) && Directory.Exists($"/proc/{pid}"))
                {
                    pids.Add(pid);
                }
            }
        }

        return [.. pids];
    }

    /// <summary>A process's arguments, or null when it is gone or not readable.</summary>
    public static string[]? CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string ReadQuietly(string file)
    {
        try
        {
            return File.ReadAllText(file).Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Local.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It ended meanwhile.
        }

        foreach (var pid in Leftovers())
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone meanwhile.
            }
        }

        // A successor holds the same output pipes; once it is killed the readers see their end.
        await Task.WhenAny(_reading, Task.Delay(TimeSpan.FromSeconds(10)));
        _process.Dispose();
    }

    public override string ToString() => $"{Agent} in {Home} (pid {Pid})";
}
