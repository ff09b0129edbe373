using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Grpc;
using Trellis.Api.Hosting;
using Trellis.Core.Bus;
using Trellis.Hosting.Messaging;

namespace Trellis.Bench.Edge;

/// <summary>The cluster side of the edge benchmarks: the all-in-one process as it ships (<see cref="TrellisApp"/>, role silo:
/// a one-silo Orleans cluster on free ports, grain state in memory, the in-process bus), with its gRPC listener (where
/// devices link) and its REST API, hosted in the bench process; warnings and errors go to the console.</summary>
public sealed class EdgeGateway : IAsyncDisposable
{
    public const string AdminToken = "bench-admin-token-0123456789abcdef";

    private readonly WebApplication _app;

    private EdgeGateway(WebApplication app, Uri http, Uri grpc)
    {
        _app = app;
        HttpAddress = http;
        GrpcAddress = grpc;
        Http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = http, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>The REST API (admin routes, /request/{node}).</summary>
    public Uri HttpAddress { get; }

    /// <summary>The gRPC listener devices link to.</summary>
    public Uri GrpcAddress { get; }

    public HttpClient Http { get; }

    /// <summary>The cluster's bus, for requests that skip the REST API.</summary>
    public Task<MessageBus> BusAsync() => _app.Services.GetRequiredService<BusHost>().Started;

    public static async Task<EdgeGateway> StartAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = "http://127.0.0.1:0",
            ["Trellis:Grpc:Url"] = "http://127.0.0.1:0",
            ["Trellis:Transport:Provider"] = "InMemory",
            ["Trellis:Storage:Provider"] = "Memory",
            ["Trellis:Security:AdminToken"] = AdminToken,
            ["Trellis:Gateway:Id"] = $"bench-{Guid.NewGuid():N}",
            ["Trellis:Cluster:SiloPort"] = FreePort.Tcp().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Trellis:Cluster:GatewayPort"] = FreePort.Tcp().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Trellis:Cluster:ClusterId"] = $"bench-{Guid.NewGuid():N}",
        };
        var app = TrellisApp.Build([], "silo", settings, static builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        var listeners = app.Services.GetRequiredService<TrellisListeners>();
        var http = listeners.HttpAddress ?? new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var grpc = listeners.GrpcAddress ?? throw new InvalidOperationException("the bench gateway has no gRPC listener");
        return new EdgeGateway(app, http, grpc);
    }

    /// <summary>Issues a device token for <paramref name="provider"/> (POST /edge/devices/{provider}/token, admin).</summary>
    public async Task<string> IssueTokenAsync(string provider)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, $"/edge/devices/{provider}/token", new JsonObject { ["grant"] = new JsonArray() }, AdminToken);
        return status == 200 && JsonNode.Parse(body)?["token"]?.GetValue<string>() is { } token
            ? token
            : throw new InvalidOperationException($"POST /edge/devices/{provider}/token answered {status}: {body}");
    }

    /// <summary>The device's record as the admin API shows it (status, services …).</summary>
    public async Task<JsonNode?> DeviceAsync(string provider)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, $"/edge/devices/{provider}", null, AdminToken);
        return status == 200 ? JsonNode.Parse(body) : null;
    }

    /// <summary>Registers a node (POST /nodes) whose health check is GET /health on <paramref name="port"/>: the caller of
    /// /request/{id}.</summary>
    public async Task<(string Id, string Token)> RegisterNodeAsync(int port)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/nodes", new JsonObject { ["port"] = port, ["health_check"] = "/health" }, null);
        var json = status == 200 ? JsonNode.Parse(body) : null;
        return json?["id"]?.GetValue<string>() is { } id && json["token"]?.GetValue<string>() is { } token
            ? (id, token)
            : throw new InvalidOperationException($"POST /nodes answered {status}: {body}");
    }

    public async Task<(int Status, string Body)> SendAsync(HttpMethod method, string path, JsonNode? body, string? token)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await Http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Ports the OS hands out now (bound to 0 and released): free when chosen, as the tests' helper.</summary>
public static class FreePort
{
    public static int Tcp()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static int Udp()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
