using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Api.Activities;
using Trellis.Api.Apps;
using Trellis.Api.Console;
using Trellis.Api.Dashboard;
using Trellis.Api.Edge;
using Trellis.Api.Flows;
using Trellis.Api.Flows.Fbp;
using Trellis.Api.Grpc;
using Trellis.Api.Proxy;
using Trellis.Core.Errors;
using Trellis.Hosting.Activities;
using Trellis.Hosting.Cluster;
using Trellis.Hosting.Configuration;
using Trellis.Hosting.Flows;
using Trellis.Hosting.Health;
using Trellis.Hosting.Messaging;
using Trellis.Hosting.Telemetry;

namespace Trellis.Api.Hosting;

/// <summary>Builds and runs a Trellis process (the all-in-one silo or a gateway) from configuration.</summary>
public static class TrellisApp
{
    /// <summary>Runs until stopped; returns the process exit code (2 for bad configuration).</summary>
    public static async Task<int> RunAsync(string[] args, string role, string description, Action<WebApplicationBuilder>? configure = null)
    {
        if (args.Any(a => a is "--help" or "-h" or "-?"))
        {
            System.Console.Out.Write(Usage(role, description));
            return 0;
        }

        WebApplication app;
        try
        {
            app = Build(args, role, settings: null, configure);
        }
        catch (TrellisException e)
        {
            await System.Console.Error.WriteLineAsync($"trellis-{role}: configuration error: {e.Message}");
            return 2;
        }

        await app.RunAsync();
        return 0;
    }

    /// <summary>Composes the services and endpoints of a process; throws on bad configuration.</summary>
    public static WebApplication Build(string[] args, string role) => Build(args, role, settings: null);

    /// <summary>Composes a process with <paramref name="settings"/> taking precedence over every other source (tests use
    /// it for <c>Trellis:Http:Url=http://127.0.0.1:0</c> and short health intervals) and <paramref name="configure"/> run
    /// just before the app is built (tests add log sinks); throws on bad configuration.</summary>
    public static WebApplication Build(
        string[] args, string role, IEnumerable<KeyValuePair<string, string?>>? settings, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ApplicationName = $"trellis-{role}" });
        builder.Configuration.AddEnvironmentVariables();
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        var http = ConfigurationBinding.Bind<HttpOptions>(builder.Configuration, HttpOptions.Section).Validate();
        builder.AddTrellisListeners(http.Url);
        builder.AddTrellisTelemetry(role);
        // Not ready yet (starting, a broker away) is a state that /readyz and grpc.health.v1 report, not an error to log on
        // every check.
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Critical);
        // Orleans and its placement retries log every step at Information; what an operator needs is their warnings.
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning);

        builder.Services.AddTrellisMessaging(builder.Configuration);
        builder.AddTrellisCluster(hostSilo: role == "silo");
        builder.AddTrellisFlows(hostSilo: role == "silo");
        builder.Services.AddTrellisProxy(builder.Configuration);
        builder.Services.AddTrellisGrpc();
        builder.Services.AddTrellisApps(builder.Configuration);
        builder.Services.AddTrellisFlowsApi();
        builder.Services.AddTrellisEdge(builder.Configuration);
        builder.Services.AddTrellisConsole(builder.Configuration);
        builder.Services.AddHostedService<GatewayGauges>();
        if (role == "silo")
        {
            builder.Services.AddTrellisActivities(builder.Configuration);
        }

        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseTrellisServerSpans();
        app.UseTrellisGrpc();
        app.MapTrellisHealth(role);
        app.MapTrellisMetrics();
        app.MapTrellisDashboard();
        app.MapTrellisConsole();
        app.MapTrellisProxy();
        app.MapTrellisGrpc();
        app.MapTrellisApps();
        app.MapTrellisFlows();
        app.MapTrellisFbp();
        app.MapTrellisActivities();
        app.MapTrellisEdge();
        Trellis.Api.Operator.OperatorEndpoints.MapTrellisOperator(app);
        return app;
    }

    private static string Usage(string role, string description) => $"""
        trellis-{role}: {description}

        Usage: dotnet run --project src/{char.ToUpperInvariant(role[0])}{role[1..]} [-- --Key=Value ...]

        Configuration comes from appsettings.json, environment variables (Trellis__Section__Key) and
        --Trellis:Section:Key=value arguments. The main keys:
          Trellis:Http:Url                  REST/JSON, dashboard and health listener (http://127.0.0.1:5080)
          Trellis:Grpc:Url                  gRPC listener, HTTP/2 without TLS (http://127.0.0.1:5081; empty: off)
          Trellis:Transport:Provider        InMemory (default, one process) or RabbitMq
          Trellis:Transport:RabbitMq:Uri    amqp://guest:guest@127.0.0.1:5672/
          Trellis:Messaging:DefaultRequestTimeout   00:00:30
          Trellis:Messaging:DefaultHandlerTimeout   00:00:30
          Trellis:Messaging:MaxPayloadBytes         1048576
          Trellis:Messaging:QueueMaxLength          10000
          Trellis:Nodes:HealthInterval      how often nodes are health-checked (00:00:10)
          Trellis:Nodes:AllowedHosts        hosts besides 127.0.0.1 that nodes may be called on (none)
          Trellis:Cluster:Provider          Localhost (default, one silo) or Postgres (ADO.NET clustering)
          Trellis:Cluster:SiloPort, GatewayPort, AdvertisedAddress   11111, 30000, 127.0.0.1
          Trellis:Cluster:ServiceId, ClusterId                      trellis, trellis
          Trellis:Storage:Provider          Sqlite (default), Postgres or Memory: grain state and reminders
          Trellis:Storage:Sqlite:Path       grain state, node registrations, reminders (data/trellis.db)
          Trellis:Storage:Postgres:ConnectionString   Host=...;Username=...;Password=...;Database=...
          Trellis:Flows:ParticipantTimeout  seconds a MsgFlo participant without a heartbeat stays online (600)
          Trellis:Flows:DiscoveryRetry      seconds a standby silo waits before trying the fbp queue again (3)
          Trellis:Flows:Secret              the FBP runtime protocol's secret at /fbp (unset: the admin token)
          Trellis:Flows:RuntimeId           the FBP runtime's id (unset: a new one per start)
          Trellis:Activities:Home           a silo runs this activity home's enabled activities (unset: none)
          Trellis:Activities:HostId, Prefetch, RescanInterval   machine name + random, 64, 00:00:02
          Trellis:Edge:BuildsDirectory      agent builds served for auto-update, <arch>/<version>/ (data/edge-builds)
          Trellis:Edge:MaxBuildBytes        the largest build upload (209715200, 200 MB)
          Trellis:Edge:HeartbeatInterval    how often device agents say they are alive (00:00:15); silent 3x → offline
          Trellis:Edge:MaxMessageBytes      the largest message on a device link (4194304)
          Trellis:Edge:RequestTimeout       how long a request waits for a device's service (00:00:30)
          Trellis:Gateway:Id                which gateway serves a node (machine:HTTP URL)
          Trellis:Security:AdminToken       bearer token that may manage every node (unset)
          Trellis:Console:Enabled           the live console at /console (true); Interval, ErrorTail, MaxViewers
          Trellis:Telemetry:Tracing, Metrics, Prometheus   spans, meters, the /metrics scrape endpoint (true)
          Trellis:Telemetry:OtlpEndpoint    export traces and metrics over OTLP there (unset: no export)
          Trellis:Telemetry:LogFormat       simple (one line per entry) or json (unset: simple)

        Endpoints: GET /healthz (alive), GET /readyz (bus and transport reachable, in the cluster), GET /metrics
        (Prometheus); the
        Orleans dashboard at /dashboard and the Trellis console at /console (loopback, or the admin token); the node proxy API:
        POST /nodes, GET|DELETE /nodes/:id, POST|GET|DELETE /nodes/:id/slots and /nodes/:id/services,
        POST /request/:id, POST /signal/:id (see src/Api/README.md); the same as gRPC services
        trellis.v1.Nodes and trellis.v1.Messaging on the gRPC port (with grpc.health.v1), and as JSON
        under /v1/... on the HTTP port. Apps under /apps (trellis.v1.Apps); flows under /flows
        (participants, graphs, queues; trellis.v1.Flows); the FBP runtime protocol as a WebSocket at
        /fbp; activities under /activities; edge devices, their tokens, services, commands and agent
        builds under /edge (trellis.v1.Edge, whose Link is the devices' own stream).

        """;
}
