using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Trellis.Bench.Edge;

/// <summary>A published agent running <c>trellis-edge daemon</c> in a process of its own, with a fresh home, its local API
/// on a free loopback HTTP port (the same API as on its socket) and, when given a gateway, its link up.</summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _errors = new();

    private AgentProcess(Process process, string home, string provider, Uri api)
    {
        _process = process;
        Home = home;
        Provider = provider;
        Api = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = api, Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Home { get; }

    public string Provider { get; }

    public int ProcessId => _process.Id;

    /// <summary>The agent's local API on loopback HTTP.</summary>
    public HttpClient Api { get; }

    /// <summary>The daemon's arguments: a fresh home under {home}, the given ports, no self-update, warnings only.</summary>
    public static List<string> Arguments(string home, string provider, int httpPort, int lanPort, Uri? gateway, string? token)
    {
        var args = new List<string> { "daemon", "--home", home, "--provider", provider, "--http-port", $"{httpPort}", "--lan-port", $"{lanPort}", "--no-update", "-l", "warn" };
        if (gateway is not null)
        {
            args.AddRange(["--gateway", gateway.ToString(), "--token", token!]);
        }

        return args;
    }

    /// <summary>Starts the agent and waits until its local API answers (and its link is up when it has a gateway).</summary>
    public static async Task<AgentProcess> StartAsync(EdgeBinary binary, string provider, int lanPort, Uri? gateway = null, string? token = null, TimeSpan? within = null)
    {
        var home = Directory.CreateTempSubdirectory("trellis-edge-bench-").FullName;
        var httpPort = FreePort.Tcp();
        var info = binary.StartInfo(Arguments(home, provider, httpPort, lanPort, gateway, token));
        info.UseShellExecute = false;
        info.RedirectStandardError = true;
        info.RedirectStandardOutput = true;
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{binary.Path} did not start");
        var agent = new AgentProcess(process, home, provider, new Uri($"http://127.0.0.1:{httpPort}"));
        process.ErrorDataReceived += (_, e) =>
        {
            lock (agent._errors)
            {
                if (e.Data is not null && agent._errors.Length < 8000)
                {
                    agent._errors.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += static (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await agent.WaitInfoAsync(gateway is null ? null : "up", within ?? TimeSpan.FromSeconds(60));
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until GET /v1/info answers (with <paramref name="link"/> as its link state when given).</summary>
    public async Task WaitInfoAsync(string? link, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        var last = "no answer";
        while (watch.Elapsed < within)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the agent exited with {_process.ExitCode} before it was ready: {Errors}");
            }

            try
            {
                var (status, body) = await SendAsync(HttpMethod.Get, "/v1/info", null);
                last = $"{status} {body}";
                if (status == 200 && (link is null || (string?)JsonNode.Parse(body)?["link"] == link))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the agent's /v1/info did not show {(link is null ? "an answer" : $"link {link}")} within {within.TotalSeconds:0} s (last: {last}; errors: {Errors})");
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.Length == 0 ? "(none)" : _errors.ToString().Trim();
            }
        }
    }

    public async Task<(int Status, string Body)> SendAsync(HttpMethod method, string path, JsonNode? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        using var response = await Api.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Publishes a service (POST /v1/services); throws unless it is accepted.</summary>
    public async Task PublishAsync(string publisher, string service, string url, params string[] scopes)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/v1/services", new JsonObject
        {
            ["publisher"] = publisher,
            ["service"] = service,
            ["url"] = url,
            ["scopes"] = new JsonArray([.. scopes.Select(static s => (JsonNode)s)]),
        });
        if (status is not (200 or 201))
        {
            throw new InvalidOperationException($"publishing {publisher}/{service} answered {status}: {body}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A provider id for a bench agent (a-z, 0-9, '-').</summary>
    public static string NewProvider(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
}
