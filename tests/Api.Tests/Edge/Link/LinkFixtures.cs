using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using Orleans;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Api.Edge;
using Trellis.Api.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.Edge.Activities;
using Trellis.Edge.Daemon;
using Trellis.Edge.Jobs;
using Trellis.Edge.Link;
using Trellis.Edge.Local;
using Trellis.Edge.Services;
using Trellis.Edge.Work;
using Trellis.Flows.Broker;
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;
using Trellis.TestKit;
using EdgeClient = Trellis.Contracts.V1.Edge.EdgeClient;
using Priority = Trellis.Edge.Work.Priority;

namespace Trellis.Api.Tests.Edge.Link;

/// <summary>The Edge/Link gRPC endpoint over a test gateway's bus and grains, on its own h2c listener (until the gateway
/// maps trellis.v1.Edge itself): an <see cref="EdgeLinks"/> composed from the gateway's services.</summary>
internal sealed class LinkHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LinkHost(WebApplication app, EdgeLinks links, Uri address)
    {
        _app = app;
        Links = links;
        Address = address;
    }

    public EdgeLinks Links { get; }

    public Uri Address { get; }

    public static async Task<LinkHost> StartAsync(TestGateway gateway, EdgeLinkOptions? options = null, int port = 0, IEdgeBuilds? builds = null)
    {
        options ??= new EdgeLinkOptions();
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton(sp => new EdgeLinks(
            gateway.Services.GetRequiredService<BusHost>(),
            gateway.Services.GetRequiredService<IGrainFactory>(),
            options,
            TimeProvider.System,
            gateway.Services.GetRequiredService<ILogger<EdgeLinks>>(),
            builds,
            lifetime: sp.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>(),
            flows: gateway.Services.GetService<IFlowBroker>()));
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = options.MaxMessageBytes);
        var app = builder.Build();
        app.MapGrpcService<TestEdgeService>();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new LinkHost(app, app.Services.GetRequiredService<EdgeLinks>(), address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}

/// <summary>trellis.v1.Edge with only Link, served by <see cref="EdgeLinks"/>.</summary>
internal sealed class TestEdgeService(EdgeLinks links) : Contracts.V1.Edge.EdgeBase
{
    public override Task Link(IAsyncStreamReader<DeviceMessage> requestStream, IServerStreamWriter<LinkMessage> responseStream, ServerCallContext context) =>
        links.RunAsync(requestStream, responseStream, context);
}

/// <summary>The program on the device: an HTTP service on loopback. POST /echo answers its body (and records its
/// <c>traceparent</c>), /slow waits 30 s, /fail answers 500 with text, /count answers how many requests it had; any GET
/// answers ok (a node's health).</summary>
internal sealed class DeviceProgram : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private DeviceProgram(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    public int Port => Address.Port;

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The <c>traceparent</c> header of every POST /echo, in order ("" when it had none).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> TraceParents { get; } = new();

    public static async Task<DeviceProgram> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var program = new DeviceProgram(app);
        app.MapPost("/echo", async (HttpContext context) =>
        {
            Interlocked.Increment(ref program._requests);
            program.TraceParents.Enqueue(context.Request.Headers["traceparent"].ToString());
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"echo":{{body}},"by":"device"}""", context.RequestAborted);
        });
        app.MapPost("/slow", async (HttpContext context) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
            return Results.Ok();
        });
        app.MapPost("/fail", () => Results.Text("the program failed", statusCode: 500));
        app.MapGet("/{**any}", () => "ok");
        await app.StartAsync(TestContext.Current.CancellationToken);
        program.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return program;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}

/// <summary>An agent's published services, in memory.</summary>
internal sealed class TestServiceTable : IServiceTable
{
    private readonly List<LocalService> _services = [];

    public IReadOnlyList<LocalService> Published
    {
        get
        {
            lock (_services)
            {
                return [.. _services];
            }
        }
    }

    public event Action? Changed;

    public LocalService? Find(string publisher, string service)
    {
        lock (_services)
        {
            return _services.Find(s => s.Publisher == publisher && s.Service == service);
        }
    }

    public void Publish(LocalService service)
    {
        lock (_services)
        {
            _services.Add(service);
        }

        Changed?.Invoke();
    }

    public void Unpublish(string publisher, string service)
    {
        lock (_services)
        {
            _services.RemoveAll(s => s.Publisher == publisher && s.Service == service);
        }

        Changed?.Invoke();
    }
}

internal sealed class TestJobTable : IJobTable
{
    public List<JobSnapshot> Jobs { get; } = [];

    public event Action? Changed;

    public IReadOnlyList<JobSnapshot> Snapshot() => [.. Jobs];

    public void Add(JobSnapshot job)
    {
        Jobs.Add(job);
        Changed?.Invoke();
    }
}

/// <summary>The builds a gateway serves, in memory.</summary>
internal sealed class TestBuilds : IEdgeBuilds
{
    private readonly Dictionary<string, BuildInfo> _builds = [];

    public event Action<BuildInfo>? Added;

    public BuildInfo? Latest(string arch)
    {
        lock (_builds)
        {
            return _builds.GetValueOrDefault(arch);
        }
    }

    public void Add(BuildInfo build)
    {
        lock (_builds)
        {
            _builds[build.Arch] = build;
        }

        Added?.Invoke(build);
    }
}

/// <summary>Runs every piece of work at once on the thread pool.</summary>
internal sealed class TestScheduler : IWorkScheduler
{
    private readonly CancellationTokenSource _stopping = new();

    public List<Priority> Posted { get; } = [];

    public void Post(Priority priority, Func<CancellationToken, Task> work)
    {
        lock (Posted)
        {
            Posted.Add(priority);
        }

        _ = Task.Run(() => work(_stopping.Token));
    }

    public void Stop() => _stopping.Cancel();
}

/// <summary>A device: an agent's link with its service table, job table, scheduler and local router, and the activities
/// it hosts when given an activity home.</summary>
internal sealed class TestDevice : IAsyncDisposable
{
    private int _disposed;

    public TestDevice(Uri gateway, string provider, string? token, TimeSpan? maxBackoff = null, string? activityHome = null)
    {
        Provider = provider;
        if (activityHome is not null)
        {
            Activities = new EdgeActivities(activityHome, new ActivityHostSettings { RescanInterval = TimeSpan.FromMilliseconds(200) }, Logs.CreateLogger("Trellis.Edge.Activities"));
        }

        Link = new EdgeLink(
            new EdgeOptions { Gateway = gateway, Token = token, Provider = provider, AutoUpdate = false },
            provider, Services, Jobs, Scheduler, Router, Logs.CreateLogger("Trellis.Edge.Link"))
        {
            MaxBackoff = maxBackoff ?? TimeSpan.FromSeconds(1),
            Activities = Activities,
        };
        LinkRoutes.Map(Router, Link);
        Router.Map("GET", "/v1/ping", (request, _, _) => Task.FromResult(LocalResponse.Ok(new JsonObject
        {
            ["pong"] = request.QueryValue("n"),
            ["fromCluster"] = request.FromCluster,
        })), remote: true);
    }

    public string Provider { get; }

    /// <summary>The agent's log.</summary>
    public LogSink Logs { get; } = new();

    public EdgeLink Link { get; }

    public TestServiceTable Services { get; } = new();

    public TestJobTable Jobs { get; } = new();

    public TestScheduler Scheduler { get; } = new();

    public LocalRouter Router { get; } = new();

    /// <summary>The activities the device hosts, or null.</summary>
    public EdgeActivities? Activities { get; }

    public void Start()
    {
        Activities?.StartAsync(TestContext.Current.CancellationToken).GetAwaiter().GetResult();
        Link.Start();
    }

    public Task WaitUpAsync(string phase) =>
        Waits.UntilAsync(() => Task.FromResult(Link.State), s => s == LinkState.Up, $"{phase}: the link of {Provider} to be up");

    public Task WaitStateAsync(LinkState state, string phase) =>
        Waits.UntilAsync(() => Task.FromResult(Link.State), s => s == state, $"{phase}: the link of {Provider} to be {state}");

    /// <summary>A local API call as a program on the device makes it.</summary>
    public async Task<(int Status, JsonNode? Body)> LocalAsync(string method, string pathAndQuery, string? body = null)
    {
        var mark = pathAndQuery.IndexOf('?');
        var query = new Dictionary<string, string>();
        if (mark >= 0)
        {
            foreach (var pair in pathAndQuery[(mark + 1)..].Split('&'))
            {
                var eq = pair.IndexOf('=');
                query[pair[..eq]] = Uri.UnescapeDataString(pair[(eq + 1)..]);
            }
        }

        var response = await Router.DispatchAsync(
            new LocalRequest(method, mark < 0 ? pathAndQuery : pathAndQuery[..mark], query, body is null ? [] : Encoding.UTF8.GetBytes(body)),
            TestContext.Current.CancellationToken);
        return (response.Status, JsonNode.Parse(response.Body));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (Activities is not null)
        {
            await Activities.DisposeAsync();
        }

        await Link.DisposeAsync();
        Scheduler.Stop();
    }
}

/// <summary>Device tokens and raw link calls against a test gateway.</summary>
internal static class Devices
{
    public static string NewProvider() => $"dev{Guid.NewGuid():N}"[..20];

    public static Task<string> IssueTokenAsync(TestGateway gateway, string provider, params string[] grant) =>
        gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(provider).IssueToken(grant);

    /// <summary>The whole agent in this process, in <paramref name="home"/>, linked to <paramref name="gateway"/>'s own gRPC
    /// port as <paramref name="provider"/>; no local HTTP port, no LAN discovery, no updates.</summary>
    public static Task<Trellis.Edge.Daemon.EdgeDaemon> StartAgentAsync(TestGateway gateway, string home, string provider, string token) =>
        Trellis.Edge.Daemon.EdgeDaemon.StartAsync(
            new Trellis.Edge.Daemon.EdgeOptions
            {
                WorkDir = home, HttpPort = 0, LanPort = 0, Gateway = gateway.GrpcAddress, Token = token, Provider = provider, AutoUpdate = false,
            },
            NullLogger.Instance,
            TestContext.Current.CancellationToken);

    public static AsyncDuplexStreamingCall<DeviceMessage, LinkMessage> RawLink(GrpcChannel channel, string? token) =>
        new EdgeClient(channel).Link(
            token is null ? new Metadata() : new Metadata { { "authorization", "Bearer " + token } },
            cancellationToken: TestContext.Current.CancellationToken);

    public static DeviceMessage Hello(string provider, params (string Publisher, string Service)[] services)
    {
        var hello = new Hello { Provider = provider, Version = "test", Arch = "linux-x64", Hostname = "test" };
        hello.Services.AddRange(services.Select(s => new ServiceName { Publisher = s.Publisher, Service = s.Service }));
        return new DeviceMessage { Hello = hello };
    }

    /// <summary>Writes a message; a call the gateway already ended (it refuses before reading) fails the write, which the
    /// status read afterwards explains.</summary>
    public static async Task TrySendAsync(AsyncDuplexStreamingCall<DeviceMessage, LinkMessage> call, DeviceMessage message)
    {
        try
        {
            await call.RequestStream.WriteAsync(message, TestContext.Current.CancellationToken);
        }
        catch (RpcException)
        {
        }
    }

    /// <summary>The status the link's call ends with (reading until it does).</summary>
    public static async Task<RpcException> EndsWithAsync(AsyncDuplexStreamingCall<DeviceMessage, LinkMessage> call, string what)
    {
        async Task<RpcException> ReadAll()
        {
            try
            {
                while (await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
                {
                }
            }
            catch (RpcException e)
            {
                return e;
            }

            throw new InvalidOperationException($"{what}: the link ended OK, not with an error status");
        }

        return await ReadAll().Within(what);
    }
}
