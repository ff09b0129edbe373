using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Trellis.Contracts.V1;
using Trellis.Edge.Activities;
using Trellis.Edge.Jobs;
using Trellis.Edge.Link;
using Trellis.Edge.Local;
using Trellis.Edge.Services;
using Trellis.Edge.Update;
using Trellis.Edge.Work;

namespace Trellis.Edge.Daemon;

/// <summary>The agent: its local API (unix socket and loopback HTTP), services and discovery, jobs, the worker pool, the
/// activities of its activity home, the link to a gateway and self-update, composed in that order and stopped in the
/// reverse one.</summary>
/// <remarks>Stopping the agent never stops its jobs: they are detached processes, and a new agent adopts them.</remarks>
public sealed partial class EdgeDaemon : IAsyncDisposable
{
    private readonly EdgeOptions _options;
    private readonly ILogger _logger;
    private readonly LocalRouter _router;
    private readonly PriorityScheduler _scheduler;
    private readonly EdgeJobs _jobs;
    private readonly EdgeServices _services;
    private readonly EdgeLink _link;
    private readonly EdgeActivities? _activities;
    private AgentUpdater? _updater;
    private readonly CancellationTokenSource _stopping = new();
    private LocalHttpServer? _server;
    private int _disposed;

    private EdgeDaemon(EdgeOptions options, string provider, ILogger logger, LocalRouter router, PriorityScheduler scheduler, EdgeJobs jobs, EdgeServices services, EdgeLink link, EdgeActivities? activities)
    {
        _activities = activities;
        _options = options;
        Provider = provider;
        _logger = logger;
        _router = router;
        _scheduler = scheduler;
        _jobs = jobs;
        _services = services;
        _link = link;
    }

    public string Provider { get; }

    public EdgeLink Link => _link;

    public EdgeServices Services => _services;

    public EdgeJobs Jobs => _jobs;

    /// <summary>The activities the agent hosts, or null without <see cref="EdgeOptions.ActivitiesHome"/>.</summary>
    public EdgeActivities? Activities => _activities;

    /// <summary>The loopback HTTP port of the local API, or null when it has none.</summary>
    public int? HttpPort => _server?.HttpPort;

    public string SocketPath => _options.Socket;

    /// <summary>Completes when the agent should exit (an update replaced it).</summary>
    public Task Exited => _exited.Task;

    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<EdgeDaemon> StartAsync(EdgeOptions options, ILogger logger, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.WorkDir);
        var provider = options.Provider ?? ProviderId.Current();
        var router = new LocalRouter();
        router.Failed += (request, e) => LogRouteFailed(logger, request.Method, request.Path, e);
        var scheduler = new PriorityScheduler(options.ResidentWorkers, options.QueuePerWorker, options.MaxWorkers, logger: logger);
        var jobs = await EdgeJobs.StartAsync(options, router, logger, cancellationToken).ConfigureAwait(false);
        var wan = new WanRelay();
        var services = EdgeServices.Start(options, provider, router, wan, logger);
        EdgeActivities? activities = null;
        if (options.ActivitiesHome is { } home)
        {
            activities = new EdgeActivities(home, logger: logger);
            await activities.StartAsync(cancellationToken).ConfigureAwait(false);
            ActivityRoutes.Map(router, activities);
        }

        var link = new EdgeLink(options, provider, services.Table, jobs.Manager, scheduler, router, logger) { Activities = activities };
        wan.Target = link;
        LinkRoutes.Map(router, link);
        var daemon = new EdgeDaemon(options, provider, logger, router, scheduler, jobs, services, link, activities);
        if (options.Gateway is not null && options.AutoUpdate)
        {
            daemon._updater = new AgentUpdater(options with { Provider = provider }, new AgentUpdateHost
            {
                Release = daemon.ReleaseAsync,
                Resume = daemon.ResumeAsync,
                Exit = _ => daemon._exited.TrySetResult(),
            }, logger: logger);
        }

        router.Map("GET", "/v1/info", (_, _, _) => Task.FromResult(LocalResponse.Ok(daemon.Info())), remote: true);
        await daemon.ListenAsync(cancellationToken).ConfigureAwait(false);
        if (daemon._updater is not null)
        {
            link.BuildAvailable += build => _ = daemon.OfferAsync(build);
        }

        link.Start();
        var from = AgentUpdater.SignalReadyIfUpdated();
        if (from is not null)
        {
            LogUpdated(logger, from, AgentVersion.Current);
        }

        LogStarted(logger, provider, AgentVersion.Current, options.Socket, daemon.HttpPort?.ToString() ?? "off", options.LanPort == 0 ? "off" : options.LanPort.ToString(), options.Gateway?.ToString() ?? "none (no WAN scope)");
        return daemon;
    }

    private JsonObject Info() => new()
    {
        ["provider"] = Provider,
        ["version"] = AgentVersion.Current,
        ["arch"] = RuntimeInformation.RuntimeIdentifier,
        ["hostname"] = Environment.MachineName,
        ["link"] = _link.StateName,
        ["gateway"] = _options.Gateway?.ToString(),
        ["autoUpdate"] = _updater is not null,
        ["workers"] = _scheduler.Workers,
        ["queued"] = _scheduler.Queued,
        ["activities"] = _activities?.States.Count,
    };

    private async Task ListenAsync(CancellationToken cancellationToken) =>
        _server = await LocalHttpServer.StartAsync(_router, _options.Socket, _options.HttpPort == 0 ? -1 : _options.HttpPort, _logger, cancellationToken).ConfigureAwait(false);

    private async Task OfferAsync(BuildInfo build)
    {
        try
        {
            var outcome = await _updater!.OfferAsync(build, _stopping.Token).ConfigureAwait(false);
            LogOffer(_logger, build.Version, outcome.Result.ToString(), outcome.Reason);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogOfferFailed(_logger, build.Version, e);
        }
    }

    /// <summary>Before a new agent starts: frees the local socket and port and the LAN port for it.</summary>
    private async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (_server is { } server)
        {
            _server = null;
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The new agent did not start: serve again.</summary>
    private Task ResumeAsync(CancellationToken cancellationToken) => ListenAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_server is { } server)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }

        if (_activities is not null)
        {
            // Before the link: what the activities still answer goes up it, and their stopped states with it.
            await _activities.DisposeAsync().ConfigureAwait(false);
        }

        await _link.DisposeAsync().ConfigureAwait(false);
        await _services.DisposeAsync().ConfigureAwait(false);
        await _scheduler.DisposeAsync().ConfigureAwait(false);
        await _jobs.DisposeAsync().ConfigureAwait(false);
        _updater?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The WAN scope for discovery, once the link exists (they need each other).</summary>
    private sealed class WanRelay : IWanDiscovery
    {
        public IWanDiscovery? Target { get; set; }

        public Task<IReadOnlyList<FoundService>> DiscoverAsync(string publisher, string service, CancellationToken cancellationToken) =>
            Target?.DiscoverAsync(publisher, service, cancellationToken) ?? Task.FromResult<IReadOnlyList<FoundService>>([]);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "trellis-edge {Version} started as provider {Provider}: local API on {Socket} and loopback port {HttpPort}, LAN port {LanPort}, gateway {Gateway}")]
    private static partial void LogStarted(ILogger logger, string provider, string version, string socket, string httpPort, string lanPort, string gateway);

    [LoggerMessage(Level = LogLevel.Information, Message = "Updated from {From} to {Version}")]
    private static partial void LogUpdated(ILogger logger, string from, string version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Build {Version}: {Result} ({Reason})")]
    private static partial void LogOffer(ILogger logger, string version, string result, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Offering build {Version} failed")]
    private static partial void LogOfferFailed(ILogger logger, string version, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "Local API {Method} {Path} failed")]
    private static partial void LogRouteFailed(ILogger logger, string method, string path, Exception e);
}
