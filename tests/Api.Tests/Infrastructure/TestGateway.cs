using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Grpc;
using Trellis.Api.Hosting;
using Grpc.Net.Client;
using Trellis.Api.Proxy;
using Trellis.Core.Nodes;
using Trellis.Grains.Apps;
using Trellis.Samples.Agents;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Infrastructure;

/// <summary>A gateway on real Kestrel bound to 127.0.0.1:0, composed like the real process, with the in-process bus.</summary>
public sealed class TestGateway : IAsyncDisposable
{
    public const string AdminToken = "admin-token-for-tests-0123456789";

    private readonly WebApplication _app;
    private int _disposed;

    private TestGateway(WebApplication app, Uri address, LogSink logs, int orleansGatewayPort, string clusterId)
    {
        OrleansGatewayPort = orleansGatewayPort;
        ClusterId = clusterId;
        _app = app;
        Address = address;
        Logs = logs;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        GrpcAddress = app.Services.GetRequiredService<TrellisListeners>().GrpcAddress;
        if (GrpcAddress is not null)
        {
            Grpc = GrpcChannel.ForAddress(GrpcAddress);
        }
    }

    /// <summary>The bound gRPC (h2c) listener; null when Trellis:Grpc:Url is empty.</summary>
    public Uri? GrpcAddress { get; }

    /// <summary>A channel to <see cref="GrpcAddress"/>.</summary>
    public GrpcChannel Grpc { get => field ?? throw new InvalidOperationException("this gateway has no gRPC listener"); }

    public Uri Address { get; }

    /// <summary>The Orleans gateway port of this process's cluster (its own silo's, or the silo it is a client of).</summary>
    public int OrleansGatewayPort { get; }

    /// <summary>The Orleans cluster id this process is part of (unique per test cluster).</summary>
    public string ClusterId { get; }

    public HttpClient Http { get; }

    public LogSink Logs { get; }

    public NodeRegistry Registry => _app.Services.GetRequiredService<NodeRegistry>();

    public IServiceProvider Services => _app.Services;

    /// <summary>Error-level log lines a test expects (matched by substring), so they do not fail it.</summary>
    public List<string> ExpectedErrors { get; } = [];

    /// <summary>Starts a process composed like the real one: by default the all-in-one silo (its own one-silo Orleans cluster
    /// on free ports, grain state in memory, or in the SQLite file <paramref name="sqlitePath"/> so it survives a restart,
    /// the example agents); with <paramref name="role"/> "gateway", an Orleans client of <paramref name="clusterOf"/>'s cluster.</summary>
    /// <param name="configure">Runs on the builder before the app is built, after the test's own services (tests add an
    /// in-memory span exporter).</param>
    public static async Task<TestGateway> StartAsync(
        string? sqlitePath = null, IDictionary<string, string?>? settings = null, string role = "silo", TestGateway? clusterOf = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(sqlitePath, settings, role, clusterOf, configure);
            }
            catch (Microsoft.AspNetCore.Connections.AddressInUseException) when (attempt < 3 && role == "silo")
            {
                // The Orleans ports were free when chosen, but another test's listener took one before the silo bound it.
            }
        }
    }

    private static async Task<TestGateway> StartOnceAsync(
        string? sqlitePath, IDictionary<string, string?>? settings, string role, TestGateway? clusterOf, Action<WebApplicationBuilder>? configure)
    {
        var all = new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = "http://127.0.0.1:0",
            ["Trellis:Grpc:Url"] = "http://127.0.0.1:0",
            ["Trellis:Transport:Provider"] = "InMemory",
            ["Trellis:Nodes:HealthInterval"] = "00:00:00.2",
            ["Trellis:Nodes:HealthTimeout"] = "00:00:05",
            ["Trellis:Security:AdminToken"] = AdminToken,
            // Stable for one SQLite file, so a restarted gateway serves the nodes it registered before.
            ["Trellis:Gateway:Id"] = sqlitePath is null ? $"test-{Guid.NewGuid():N}" : $"test-{Path.GetFullPath(sqlitePath)}",
        };
        int gatewayPort;
        string clusterId;
        if (role == "silo")
        {
            var ports = FreePorts.Take(2);
            gatewayPort = ports[1];
            clusterId = sqlitePath is null ? $"test-{Guid.NewGuid():N}" : "test";
            all["Trellis:Cluster:SiloPort"] = ports[0].ToString();
            all["Trellis:Cluster:GatewayPort"] = ports[1].ToString();
            all["Trellis:Cluster:ClusterId"] = clusterId;
            all["Trellis:Storage:Provider"] = sqlitePath is null ? "Memory" : "Sqlite";
            all["Trellis:Storage:Sqlite:Path"] = sqlitePath;
        }
        else
        {
            var silo = clusterOf ?? throw new ArgumentException("a gateway needs the silo of its cluster", nameof(clusterOf));
            gatewayPort = silo.OrleansGatewayPort;
            clusterId = silo.ClusterId;
            all["Trellis:Cluster:GatewayPort"] = gatewayPort.ToString();
            all["Trellis:Cluster:ClusterId"] = clusterId;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var logs = new LogSink();
        var app = TrellisApp.Build([], role, all, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Services.AddSingleton(new AppAgents { RemoteTimeout = TimeSpan.FromSeconds(5) }.AddExamples());
            configure?.Invoke(builder);
        });
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var http = app.Services.GetRequiredService<TrellisListeners>().HttpAddress
            ?? new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new TestGateway(app, http, logs, gatewayPort, clusterId);
    }

    // ---------------------------------------------------------------- requests shaped like curl's

    /// <summary>Like <c>curl -X METHOD -H 'Content-Type: application/json' -H 'Authorization: Bearer TOKEN' -d BODY URL</c>.</summary>
    public async Task<Response> SendAsync(HttpMethod method, string path, string? body = null, string? token = null, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return new Response((int)response.StatusCode, text, response.Headers.WwwAuthenticate.ToString(), response.Content.Headers.Allow.Count > 0 ? string.Join(", ", response.Content.Headers.Allow) : "");
    }

    public Task<Response> PostAsync(string path, object body, string? token = null) => SendAsync(HttpMethod.Post, path, JsonSerializer.Serialize(body), token);

    public Task<Response> GetAsync(string path, string? token) => SendAsync(HttpMethod.Get, path, token: token);

    public Task<Response> DeleteAsync(string path, string? token) => SendAsync(HttpMethod.Delete, path, token: token);

    /// <summary>Registers a node and checks the answer's shape; returns its id, token and status.</summary>
    public async Task<RegisteredNode> RegisterAsync(object body)
    {
        var response = await PostAsync("/nodes", body);
        Assert.True(response.Status == 200, $"POST /nodes answered {response.Status}: {response.Body}");
        var json = response.Json;
        Assert.Equal(["id", "status", "token"], json.AsObject().Select(p => p.Key).Order());
        return new RegisteredNode((string)json["id"]!, (string)json["token"]!, (string)json["status"]!);
    }

    /// <summary>Waits until a health check of the node has been applied with <paramref name="status"/> (subscriptions already matching it).</summary>
    public async Task WaitForStatusAsync(string id, NodeStatus status, string phase)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        NodeStatusEvent? last = null;
        void OnChecked(NodeStatusEvent e)
        {
            if (e.NodeId == id)
            {
                last = e;
                if (e.Status == status)
                {
                    reached.TrySetResult();
                }
            }
        }

        Registry.HealthChecked += OnChecked;
        try
        {
            await reached.Task.Within($"{phase}: node {id} to be checked as {status.ToWire()} (last check: {last?.Status.ToWire() ?? "none"}, {last?.Reason ?? "-"})");
        }
        finally
        {
            Registry.HealthChecked -= OnChecked;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Http.Dispose();
        (GrpcAddress is null ? null : Grpc)?.Dispose();
        var beforeStop = Logs.Entries.Count;
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();

        // Once the silo is stopping, the Orleans runtime may log its own teardown (a reminder table read cancelled, a
        // message to the silo that is going away); that is not the gateway misbehaving. Nor is an attempt that Orleans'
        // own retry pipeline handled (placing the reminder table's grain before the silo is active in the cluster, say):
        // what fails for good surfaces as Trellis' own error. Trellis' own errors always count.
        var unexpected = Logs.Entries
            .Select((e, i) => (Entry: e, AfterStop: i >= beforeStop))
            .Where(x => x.Entry.Level >= LogLevel.Error
                && !(x.AfterStop && x.Entry.Category.StartsWith("Orleans", StringComparison.Ordinal))
                && !IsOrleansRetry(x.Entry.Category, x.Entry.Message))
            .Select(x => $"{x.Entry.Category}: {x.Entry.Message}")
            .Where(e => !ExpectedErrors.Exists(e.Contains))
            .ToArray();
        Assert.True(unexpected.Length == 0, "The gateway logged unexpected errors:\n" + string.Join("\n", unexpected));
    }

    /// <summary>An attempt of one of Orleans' own Polly pipelines (their sources are named <c>Orleans.*</c>) that the
    /// pipeline handled, to retry it.</summary>
    private static bool IsOrleansRetry(string category, string message) =>
        category.StartsWith("Polly", StringComparison.Ordinal)
        && message.Contains("Source: 'Orleans.", StringComparison.Ordinal)
        && message.Contains("Handled: 'True'", StringComparison.Ordinal);
}

/// <summary>An HTTP answer: status, body, WWW-Authenticate and Allow headers.</summary>
public sealed record Response(int Status, string Body, string WwwAuthenticate, string Allow)
{
    public JsonNode Json => JsonNode.Parse(Body) ?? throw new InvalidOperationException($"empty JSON body (status {Status})");

    /// <summary>The message of an error body <c>{"error": {"code", "message"}}</c>, checking its shape.</summary>
    public string ErrorMessage
    {
        get
        {
            var error = Json["error"] ?? throw new InvalidOperationException($"not an error body (status {Status}): {Body}");
            Assert.Equal(["code", "message"], error.AsObject().Select(p => p.Key).Order());
            return (string)error["message"]!;
        }
    }

    public string ErrorCode => (string)Json["error"]!["code"]!;

    public override string ToString() => $"{Status} {Body}";
}

/// <summary>A node as registration returned it.</summary>
public sealed record RegisteredNode(string Id, string Token, string Status);
