using System.Diagnostics;
using System.Text.Json.Nodes;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Infrastructure;

/// <summary>A real HTTP node: tests/Interop/http/node.py run by /usr/bin/python3 (or node.js run by Node.js), reporting
/// what it sees as JSON lines.</summary>
public sealed class PythonNode : IAsyncDisposable
{
    /// <summary>Debian's interpreter; the node needs only the standard library.</summary>
    public const string Python = "/usr/bin/python3";

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly List<JsonNode> _events = [];
    private readonly List<(Func<JsonNode, bool> Match, TaskCompletionSource<JsonNode> Done)> _waiters = [];
    private readonly System.Text.StringBuilder _stderr = new();
    private int _marks;

    private PythonNode(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Port { get; private set; }

    public static string Script => ScriptPath("node.py");

    private static string ScriptPath(string file) => Path.Combine(AppContext.BaseDirectory, "Interop", "http", file);

    /// <summary>Starts a node on a free port and waits until it listens; <paramref name="script"/> names another script
    /// of tests/Interop/http (agent.py is an app agent; a <c>.js</c> script runs on Node.js), given
    /// <paramref name="arguments"/> after its name.</summary>
    public static async Task<PythonNode> StartAsync(string name, string script = "node.py", IReadOnlyList<string>? arguments = null)
    {
        var path = ScriptPath(script);
        var javaScript = script.EndsWith(".js", StringComparison.Ordinal);
        if (!javaScript && !File.Exists(Python))
        {
            Assert.Fail($"{Python} is missing: the proxy tests run real HTTP nodes written in Python (standard library only). Install it with: apt-get install -y python3");
        }

        Assert.True(File.Exists(path), $"The node script {path} was not copied to the test output");
        var info = new ProcessStartInfo(javaScript ? "node" : Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (!javaScript)
        {
            info.ArgumentList.Add("-u");
        }

        info.ArgumentList.Add(path);
        info.ArgumentList.Add("--name");
        info.ArgumentList.Add(name);
        foreach (var argument in arguments ?? [])
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["PYTHONIOENCODING"] = "utf-8";
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {Python}");
        var node = new PythonNode(process, name);
        process.OutputDataReceived += (_, e) => node.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (node._lock)
                {
                    node._stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var listening = await node.WaitForAsync(e => (string?)e["event"] == "listening", "the node to listen");
        node.Port = (int)listening["port"]!;
        return node;
    }

    /// <summary>Everything the node reported so far.</summary>
    public IReadOnlyList<JsonNode> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Calls the node has reported so far on <paramref name="path"/> (POSTs from the gateway). A report is read
    /// on this process's own reader and can trail the node's answer; <see cref="CallsAsync"/> waits for it.</summary>
    public IReadOnlyList<JsonNode> Calls(string path) =>
        Events.Where(e => (string?)e["event"] == "call" && (string?)e["method"] == "POST" && (string?)e["path"] == path).ToArray();

    /// <summary>Calls the node received on <paramref name="path"/>, including every call it answered before this
    /// method was called: the node reports a call before it answers and writes its reports in order, so once the report
    /// of a mark asked for now has been read, so have theirs.</summary>
    public async Task<IReadOnlyList<JsonNode>> CallsAsync(string path)
    {
        var mark = Interlocked.Increment(ref _marks).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using (var http = new HttpClient())
        using (var response = await http.PostAsync($"http://127.0.0.1:{Port}/_control/mark?id={mark}", new StringContent("{}"), TestContext.Current.CancellationToken))
        {
            response.EnsureSuccessStatusCode();
        }

        await WaitForAsync(e => (string?)e["event"] == "mark" && (string?)e["id"] == mark, $"the report of mark {mark}");
        return Calls(path);
    }

    /// <summary>Waits for a reported event (one already reported counts).</summary>
    public Task<JsonNode> WaitForAsync(Func<JsonNode, bool> match, string what)
    {
        TaskCompletionSource<JsonNode> done;
        lock (_lock)
        {
            foreach (var e in _events)
            {
                if (match(e))
                {
                    return Task.FromResult(e);
                }
            }

            done = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, done));
        }

        return Wait(done);

        async Task<JsonNode> Wait(TaskCompletionSource<JsonNode> tcs)
        {
            try
            {
                return await tcs.Task.Within($"node {Name}: {what}");
            }
            catch (TimeoutException e)
            {
                string stderr;
                lock (_lock)
                {
                    stderr = _stderr.ToString();
                }

                throw new TimeoutException($"{e.Message}; it reported {Events.Count} events, exited: {_process.HasExited}; stderr: {stderr}");
            }
        }
    }

    /// <summary>Waits for the n-th call on a path.</summary>
    public Task WaitForCallsAsync(string path, int count, string what)
    {
        var seen = 0;
        return WaitForAsync(e => (string?)e["event"] == "call" && (string?)e["method"] == "POST" && (string?)e["path"] == path && ++seen >= count, $"{what} ({count} calls on {path})");
    }

    /// <summary>Switches the node's health answer: ok (200), fail (500) or hang.</summary>
    public async Task SetHealthAsync(string mode)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync($"http://127.0.0.1:{Port}/_control/health?mode={mode}", new StringContent("{}"), TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Kills the node: its port then has no listener.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync(TestContext.Current.CancellationToken).Within($"node {Name} to exit");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void OnLine(string? line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }

        JsonNode? parsed;
        try
        {
            parsed = JsonNode.Parse(line);
        }
        catch (System.Text.Json.JsonException)
        {
            parsed = new JsonObject { ["event"] = "unparsed", ["line"] = line };
        }

        if (parsed is null)
        {
            return;
        }

        lock (_lock)
        {
            _events.Add(parsed);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(parsed))
                {
                    _waiters[i].Done.TrySetResult(parsed);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
