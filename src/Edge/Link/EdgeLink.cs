using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Trellis.Contracts.V1;
using Trellis.Edge.Activities;
using Trellis.Edge.Daemon;
using Trellis.Edge.Jobs;
using Trellis.Edge.Local;
using Trellis.Edge.Services;
using Trellis.Edge.Work;
using Priority = Trellis.Edge.Work.Priority;
using WirePriority = Trellis.Contracts.V1.Priority;

namespace Trellis.Edge.Link;

/// <summary>The agent's side of the device link (trellis.v1.Edge/Link): ONE call to the gateway, kept up with back-off,
/// that announces the device's WAN services and jobs, serves the cluster's requests and commands through the work
/// scheduler, carries the device's calls into the cluster, and connects the activities the device hosts to the cluster's
/// flow broker.</summary>
public sealed partial class EdgeLink : IWanDiscovery, IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly EdgeOptions _options;
    private readonly IServiceTable _services;
    private readonly IJobTable? _jobs;
    private readonly IWorkScheduler _scheduler;
    private readonly LocalRouter _router;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<CallResult>> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DiscoverResult>> _discoveries = new(StringComparer.Ordinal);
    private Task? _running;
    private IClientStreamWriter<DeviceMessage>? _writer;
    private CancellationToken _writerToken;
    private long _next;
    private string? _lastProblem;
    private ServiceName[] _sentServices = [];
    private volatile LinkState _state;

    public EdgeLink(
        EdgeOptions options, string provider, IServiceTable services, IJobTable? jobs, IWorkScheduler scheduler, LocalRouter router, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        Provider = provider;
        _services = services;
        _jobs = jobs;
        _scheduler = scheduler;
        _router = router;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) }) { Timeout = Timeout.InfiniteTimeSpan };
        _state = options.Gateway is null ? LinkState.Off : LinkState.Down;
    }

    public string Provider { get; }

    public LinkState State => _state;

    /// <summary>The state as GET /v1/info shows it: up, down or off.</summary>
    public string StateName => _state switch
    {
        LinkState.Off => "off",
        LinkState.Up => "up",
        _ => "down",
    };

    /// <summary>The last welcome (the grant, the gateway's limits), or null before the first.</summary>
    public Welcome? Welcome { get; private set; }

    /// <summary>The first back-off after a lost link; doubles up to <see cref="MaxBackoff"/>, each wait drawn at random below it.</summary>
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The activities the device hosts (<c>--activities HOME</c>), or null.</summary>
    public EdgeActivities? Activities { get; init; }

    /// <summary>Raised each time the link comes up (after the welcome).</summary>
    public event Action? LinkUp;

    /// <summary>A newer agent build for this device's architecture (from the welcome or announced later).</summary>
    public event Action<BuildInfo>? BuildAvailable;

    /// <summary>Starts keeping the link (nothing when no gateway is configured).</summary>
    public void Start()
    {
        if (_options.Gateway is null || _running is not null)
        {
            return;
        }

        _services.Changed += OnServicesChanged;
        if (_jobs is not null)
        {
            _jobs.Changed += OnJobsChanged;
        }

        if (Activities is not null)
        {
            Activities.Outlet = this;
            Activities.Changed += OnActivitiesChanged;
        }

        _running = Task.Run(() => RunAsync(_stopping.Token));
    }

    internal const string NoLink = "the agent has no link to a cluster";

    private async Task RunAsync(CancellationToken stopping)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            KeepAlivePingDelay = TimeSpan.FromSeconds(20),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        using var channel = GrpcChannel.ForAddress(_options.Gateway!, new GrpcChannelOptions { HttpHandler = handler, MaxReceiveMessageSize = null, MaxSendMessageSize = null });
        var client = new Contracts.V1.Edge.EdgeClient(channel);
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            var slow = false;
            SetState(LinkState.Connecting);
            try
            {
                if (await LinkOnceAsync(client, stopping))
                {
                    failures = 0;
                }

                Report("the gateway ended the link");
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied)
            {
                slow = true;
                Report($"the gateway refused the link ({e.StatusCode}): {e.Status.Detail}");
            }
            catch (RpcException e)
            {
                Report($"the link failed ({e.StatusCode}): {e.Status.Detail}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException or ObjectDisposedException)
            {
                Report($"the link failed: {e.Message}");
            }
            finally
            {
                await LinkDownAsync();
            }

            if (stopping.IsCancellationRequested)
            {
                break;
            }

            var ceiling = slow ? MaxBackoff : TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, MinBackoff.Ticks << Math.Min(failures, 20)));
            failures++;
            var delay = TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * ceiling.Ticks));
            try
            {
                await Task.Delay(slow ? Max(delay, ceiling / 2) : delay, _time, stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        SetState(LinkState.Down);
    }

    /// <summary>One link: hello, welcome, then serve until it ends. True when it came up.</summary>
    private async Task<bool> LinkOnceAsync(Contracts.V1.Edge.EdgeClient client, CancellationToken stopping)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var headers = new Metadata { { "authorization", $"Bearer {_options.Token}" } };
        using var call = client.Link(headers, cancellationToken: session.Token);
        var hello = new Hello
        {
            Provider = Provider,
            Version = AgentVersion.Current,
            Arch = RuntimeInformation.RuntimeIdentifier,
            Hostname = Dns.GetHostName(),
            AutoUpdate = _options.AutoUpdate,
        };
        var services = WanServices();
        hello.Services.AddRange(services);
        hello.Jobs.AddRange(JobList());
        var activities = ActivityList();
        hello.Activities = activities;
        try
        {
            await call.RequestStream.WriteAsync(new DeviceMessage { Hello = hello }, session.Token);
        }
        catch (RpcException) when (!stopping.IsCancellationRequested)
        {
            // The gateway ended the call before reading (a refused token): its status comes with the response.
        }

        if (!await call.ResponseStream.MoveNext(session.Token))
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the gateway ended the link without a welcome"));
        }

        if (call.ResponseStream.Current.KindCase != LinkMessage.KindOneofCase.Welcome)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"the gateway's first message was {call.ResponseStream.Current.KindCase}, not welcome"));
        }

        var welcome = call.ResponseStream.Current.Welcome;
        Welcome = welcome;
        await _writeLock.WaitAsync(session.Token);
        try
        {
            _writer = call.RequestStream;
            _writerToken = session.Token;
            _sentServices = services;
            _sentActivities = activities;
        }
        finally
        {
            _writeLock.Release();
        }

        var heartbeats = Task.CompletedTask;
        try
        {
            _lastProblem = null;
            SetState(LinkState.Up);
            LogUp(_logger, _options.Gateway!, welcome.Grant.Count);
            Raise(LinkUp);
            if (welcome.Build is { } build)
            {
                RaiseBuild(build);
            }

            // Whatever changed between the hello and now.
            await SendServicesAsync();
            await SendActivitiesAsync();
            heartbeats = HeartbeatAsync(TimeSpan.FromSeconds(welcome.HeartbeatInterval > 0 ? welcome.HeartbeatInterval : 15), session.Token);
            while (await call.ResponseStream.MoveNext(session.Token))
            {
                Dispatch(call.ResponseStream.Current);
            }
        }
        finally
        {
            // Ends writes stuck on a dead connection too, so nothing holds the write lock past the link.
            await session.CancelAsync();
            await heartbeats;
        }

        return true;
    }

    private void Dispatch(LinkMessage message)
    {
        switch (message.KindCase)
        {
            case LinkMessage.KindOneofCase.Request:
                var request = message.Request;
                _scheduler.Post(ToPriority(request.Priority), async ct =>
                {
                    var reply = await ServeAsync(request, ct);
                    await TrySendAsync(new DeviceMessage { Reply = reply });
                });
                break;
            case LinkMessage.KindOneofCase.Command:
                var command = message.Command;
                _scheduler.Post(ToPriority(command.Priority), async ct =>
                {
                    var result = await RunCommandAsync(command, ct);
                    await TrySendAsync(new DeviceMessage { CommandResult = result });
                });
                break;
            case LinkMessage.KindOneofCase.CallResult:
                if (_calls.TryRemove(message.CallResult.CorrelationId, out var call))
                {
                    call.TrySetResult(message.CallResult);
                }

                break;
            case LinkMessage.KindOneofCase.Discovered:
                if (_discoveries.TryRemove(message.Discovered.CorrelationId, out var discovery))
                {
                    discovery.TrySetResult(message.Discovered);
                }

                break;
            case LinkMessage.KindOneofCase.ActivityInput:
                Deliver(message.ActivityInput);
                break;
            case LinkMessage.KindOneofCase.Build:
                RaiseBuild(message.Build);
                break;
            default:
                LogIgnored(_logger, message.KindCase.ToString());
                break;
        }
    }

    private async Task HeartbeatAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(interval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await TrySendAsync(new DeviceMessage { Heartbeat = new Heartbeat() });
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void OnServicesChanged() => _ = SendServicesAsync();

    private void OnJobsChanged()
    {
        var jobs = new JobSet();
        jobs.Jobs.AddRange(JobList());
        _ = TrySendAsync(new DeviceMessage { Jobs = jobs });
    }

    private async Task SendServicesAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            var services = WanServices();
            if (_writer is null || services.SequenceEqual(_sentServices))
            {
                return;
            }

            var set = new ServiceSet();
            set.Services.AddRange(services);
            await _writer.WriteAsync(new DeviceMessage { Services = set }, _writerToken);
            _sentServices = services;
        }
        catch (Exception e) when (e is RpcException or IOException or InvalidOperationException or OperationCanceledException or ObjectDisposedException)
        {
            // The link went down; the next hello carries the services.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes one message on the link; false when it is not up.</summary>
    private async Task<bool> TrySendAsync(DeviceMessage message)
    {
        await _writeLock.WaitAsync();
        try
        {
            if (_writer is null)
            {
                return false;
            }

            await _writer.WriteAsync(message, _writerToken);
            return true;
        }
        catch (Exception e) when (e is RpcException or IOException or InvalidOperationException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task LinkDownAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            _writer = null;
        }
        finally
        {
            _writeLock.Release();
        }

        SetState(LinkState.Down);
        foreach (var id in _calls.Keys)
        {
            if (_calls.TryRemove(id, out var waiting))
            {
                waiting.TrySetResult(Failed(503, "the link to the cluster went down before the answer came"));
            }
        }

        foreach (var id in _discoveries.Keys)
        {
            if (_discoveries.TryRemove(id, out var waiting))
            {
                waiting.TrySetResult(new DiscoverResult());
            }
        }
    }

    private ServiceName[] WanServices() =>
        [.. _services.Published.Where(s => s.Scopes.HasFlag(Scope.Wan)).Select(s => new ServiceName { Publisher = s.Publisher, Service = s.Service })];

    private IEnumerable<EdgeJob> JobList() =>
        (_jobs?.Snapshot() ?? []).Select(j => new EdgeJob
        {
            Id = j.Id,
            Name = j.Name,
            Group = j.Group,
            Status = j.Status,
            Restarts = j.Restarts,
            StartAt = j.StartAt is { } at ? Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(at) : null,
        });

    private void Report(string problem)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        if (problem != _lastProblem)
        {
            _lastProblem = problem;
            LogDown(_logger, _options.Gateway!, problem);
        }
    }

    private void SetState(LinkState state) => _state = state;

    private void Raise(Action? handlers)
    {
        try
        {
            handlers?.Invoke();
        }
        catch (Exception e)
        {
            LogHandlerFailed(_logger, e);
        }
    }

    private void RaiseBuild(BuildInfo build)
    {
        try
        {
            BuildAvailable?.Invoke(build);
        }
        catch (Exception e)
        {
            LogHandlerFailed(_logger, e);
        }
    }

    private string NextId() => Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);

    private static CallResult Failed(int code, string message) =>
        new() { Code = code, Data = Google.Protobuf.WellKnownTypes.Value.ForString(message) };

    private static Priority ToPriority(WirePriority priority) => priority switch
    {
        WirePriority.High => Priority.High,
        WirePriority.Low => Priority.Low,
        _ => Priority.Normal,
    };

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public async ValueTask DisposeAsync()
    {
        _services.Changed -= OnServicesChanged;
        if (_jobs is not null)
        {
            _jobs.Changed -= OnJobsChanged;
        }

        if (Activities is not null)
        {
            Activities.Changed -= OnActivitiesChanged;
        }

        await _stopping.CancelAsync();
        if (_running is not null)
        {
            try
            {
                await _running;
            }
            catch (OperationCanceledException)
            {
            }
        }

        _http.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The link to {Gateway} is up (grant: {Grants} topic globs)")]
    private static partial void LogUp(ILogger logger, Uri gateway, int grants);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The link to {Gateway} is down: {Problem}; retrying")]
    private static partial void LogDown(ILogger logger, Uri gateway, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "A handler of the link's events failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored a link message of kind {Kind}")]
    private static partial void LogIgnored(ILogger logger, string kind);
}
