using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Api.Edge.Link.Internal;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Topics;
using Trellis.Core.Transport;
using Trellis.Flows.Broker;
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;
using Request = Trellis.Core.Messaging.Request;
using Subscription = Trellis.Core.Bus.Subscription;

namespace Trellis.Api.Edge.Link;

/// <summary>The gateway's side of device links (trellis.v1.Edge/Link): authenticates the device with its own token,
/// makes its WAN services cluster services (<see cref="EdgeTopics"/>) served down the link, carries the device's calls
/// into the cluster within its grant, makes the activities it hosts participants on the flow broker
/// (<see cref="Internal.LinkActivities"/>), and reports the link to the device's grain.</summary>
public sealed partial class EdgeLinks
{
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(30);

    private readonly BusHost _bus;
    private readonly IGrainFactory _grains;
    private readonly IEdgeBuilds? _builds;
    private readonly IFlowBroker? _flows;
    private readonly EdgeLinkOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EdgeLinks> _logger;
    private readonly ConcurrentDictionary<string, DeviceLink> _links = new(StringComparer.Ordinal);
    private readonly SharedTopics _topics = new();
    private readonly HandlerOptions _handlerOptions;

    public EdgeLinks(
        BusHost bus, IGrainFactory grains, EdgeLinkOptions options, TimeProvider time, ILogger<EdgeLinks> logger, IEdgeBuilds? builds = null, IHostApplicationLifetime? lifetime = null, IFlowBroker? flows = null)
    {
        _flows = flows;
        _bus = bus;
        _grains = grains;
        _options = options;
        _time = time;
        _logger = logger;
        _builds = builds;
        _handlerOptions = new HandlerOptions { Timeout = options.RequestTimeout + TimeSpan.FromSeconds(5), Concurrency = 256 };
        if (builds is not null)
        {
            builds.Added += OnBuildAdded;
        }

        // Kestrel waits for open calls when it stops: end the links, so agents reconnect (elsewhere) at once.
        lifetime?.ApplicationStopping.Register(() => CloseAll("the gateway is shutting down"));
    }

    /// <summary>Ends every link with UNAVAILABLE naming <paramref name="reason"/> (the agents reconnect with back-off).</summary>
    public void CloseAll(string reason)
    {
        foreach (var link in _links.Values)
        {
            link.Close(new Status(StatusCode.Unavailable, reason), reason);
        }
    }

    /// <summary>The providers whose links this gateway holds now.</summary>
    public IReadOnlyCollection<string> Connected => [.. _links.Keys];

    /// <summary>How many device links this gateway holds now.</summary>
    internal int LinkCount => _links.Count;

    /// <summary>Serves one device's link until it ends.</summary>
    public async Task RunAsync(IAsyncStreamReader<DeviceMessage> requestStream, IServerStreamWriter<LinkMessage> responseStream, ServerCallContext context)
    {
        var token = BearerToken(context) ?? throw new RpcException(new Status(StatusCode.Unauthenticated,
            "the link needs the device's token: send the metadata 'authorization: Bearer <token>'"));
        var first = await ReadAsync(requestStream, context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "the link ended before its first message: send hello first"));
        if (first.KindCase != DeviceMessage.KindOneofCase.Hello)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"the first message on a link must be hello, not {Describe(first)}"));
        }

        var hello = first.Hello;
        if (ProviderProblem(hello.Provider) is { } problem)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"hello.provider {problem}"));
        }

        var provider = hello.Provider;
        var device = _grains.GetGrain<IDeviceGrain>(provider);
        var grant = await device.Authenticate(token);
        if (grant is null)
        {
            LogRefused(_logger, provider, context.Peer);
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"the token is not device {provider}'s current token (a device links only as itself, with the token issued for it)"));
        }

        var bus = await _bus.Started.WaitAsync(context.CancellationToken);
        var linkId = Guid.NewGuid().ToString("N");
        var link = new DeviceLink(provider, linkId, hello.Arch, _time);
        if (_links.TryGetValue(provider, out var previous))
        {
            previous.Close(new Status(StatusCode.Aborted, $"a newer link of device {provider} replaced this one"), "a newer link replaced it");
        }

        _links[provider] = link;
        var services = AcceptedServices(provider, hello.Services);
        var welcome = new Welcome
        {
            Provider = provider,
            HeartbeatInterval = _options.HeartbeatInterval.TotalSeconds,
            MaxMessageBytes = _options.MaxMessageBytes,
        };
        welcome.Grant.AddRange(grant);
        if (_builds?.Latest(hello.Arch) is { } build)
        {
            welcome.Build = build;
        }

        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var writer = Task.CompletedTask;
        var watchdog = Task.CompletedTask;
        link.LastMessage = _time.GetTimestamp();
        Subscription? revoked = null;
        var activities = new LinkActivities(link, _flows, _grains, _options, _time, _logger);
        var reason = "the device went away";
        try
        {
            await device.Connected(linkId, _options.GatewayName, ToHello(hello, services), _options.HeartbeatInterval);
            link.LastSeenReported = _time.GetTimestamp();
            revoked = await bus.SlotAsync(EdgeTopics.Revoked(provider), (_, _) =>
            {
                LogRevoked(_logger, provider);
                link.Close(new Status(StatusCode.PermissionDenied, "the device's token was revoked"), "the device's token was revoked");
                return ValueTask.CompletedTask;
            });
            await _topics.AddAsync(bus, EdgeTopics.Control(provider), link, ControlAsync, _handlerOptions);
            await SetServicesAsync(bus, link, services);

            // The welcome goes out once the device's topics are served, so the device may announce itself as reachable.
            writer = WriteLoopAsync(link, new LinkMessage { Welcome = welcome }, responseStream, done.Token);
            watchdog = WatchAsync(link, done.Token);
            LogConnected(_logger, provider, context.Peer, link.Services.Count);
            if (hello.Activities is { } hosted)
            {
                await activities.UpdateAsync(hosted);
            }

            using var serving = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, link.Ended);
            while (await ReadAsync(requestStream, serving.Token) is { } message)
            {
                await HandleAsync(bus, device, link, activities, grant, message);
            }

            reason = "the device ended it";
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && link.ClosedStatus is { } closed && !context.CancellationToken.IsCancellationRequested)
        {
            reason = closed.Detail;
            throw new RpcException(closed);
        }
        catch (RpcException e)
        {
            reason = e.Status.Detail;
            throw;
        }
        finally
        {
            link.Close(null, reason);
            if (revoked is not null)
            {
                await revoked.DisposeAsync();
            }

            await _topics.RemoveAsync(EdgeTopics.Control(provider), link);
            await SetServicesAsync(bus, link, []);
            var replaced = !_links.TryRemove(new KeyValuePair<string, DeviceLink>(provider, link));
            await activities.CloseAsync(replaced);
            await CallGrainAsync(() => device.Disconnected(linkId), provider);
            await done.CancelAsync();
            await writer;
            await watchdog;
            LogDisconnected(_logger, provider, reason);
        }
    }

    private async Task HandleAsync(MessageBus bus, IDeviceGrain device, DeviceLink link, LinkActivities activities, string[] grant, DeviceMessage message)
    {
        var now = _time.GetTimestamp();
        link.LastMessage = now;
        if (_time.GetElapsedTime(link.LastSeenReported, now) >= _options.HeartbeatInterval / 2)
        {
            link.LastSeenReported = now;
            _ = CallGrainAsync(() => device.Seen(link.LinkId), link.Provider);
        }

        switch (message.KindCase)
        {
            case DeviceMessage.KindOneofCase.Heartbeat:
                break;
            case DeviceMessage.KindOneofCase.Reply:
                link.Complete(message.Reply);
                break;
            case DeviceMessage.KindOneofCase.CommandResult:
                link.Complete(message.CommandResult);
                break;
            case DeviceMessage.KindOneofCase.Services:
                var services = AcceptedServices(link.Provider, message.Services.Services);
                await SetServicesAsync(bus, link, services);
                await CallGrainAsync(() => device.SetServices(link.LinkId, [.. services.Select(s => new DeviceServiceName(s.Publisher, s.Service))]), link.Provider);
                break;
            case DeviceMessage.KindOneofCase.Jobs:
                await CallGrainAsync(() => device.SetJobs(link.LinkId, ToJobs(message.Jobs.Jobs)), link.Provider);
                break;
            case DeviceMessage.KindOneofCase.Call:
                _ = CallAsync(bus, link, grant, message.Call);
                break;
            case DeviceMessage.KindOneofCase.Discover:
                _ = DiscoverAsync(link, message.Discover);
                break;
            case DeviceMessage.KindOneofCase.Activities:
                await activities.UpdateAsync(message.Activities);
                break;
            case DeviceMessage.KindOneofCase.ActivityOutput:
                await activities.OutputAsync(message.ActivityOutput);
                break;
            case DeviceMessage.KindOneofCase.ActivityAck:
                await activities.AckAsync(message.ActivityAck);
                break;
            case DeviceMessage.KindOneofCase.Hello:
                throw new RpcException(new Status(StatusCode.InvalidArgument, "hello is only the first message of a link; send services or jobs to change what the device announced"));
            default:
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"the link does not take {Describe(message)}"));
        }
    }

    private async Task<DeviceMessage?> ReadAsync(IAsyncStreamReader<DeviceMessage> requests, CancellationToken cancellationToken)
    {
        try
        {
            if (!await requests.MoveNext(cancellationToken))
            {
                return null;
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"a message on the link is larger than the limit of {_options.MaxMessageBytes} bytes (Trellis:Edge:MaxMessageBytes)"));
        }

        var message = requests.Current;
        var size = message.CalculateSize();
        if (size > _options.MaxMessageBytes)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"a message of {size} bytes on the link is larger than the limit of {_options.MaxMessageBytes} bytes (Trellis:Edge:MaxMessageBytes)"));
        }

        return message;
    }

    private static async Task WriteLoopAsync(DeviceLink link, LinkMessage welcome, IServerStreamWriter<LinkMessage> responses, CancellationToken cancellationToken)
    {
        try
        {
            await responses.WriteAsync(welcome, cancellationToken);
            await foreach (var message in link.Outbound.ReadAllAsync(cancellationToken))
            {
                await responses.WriteAsync(message, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The call is over; the reader notices and ends the link.
        }
    }

    /// <summary>Closes a link that sent nothing for <see cref="DeviceRecord.MissedHeartbeats"/> heartbeat intervals (its
    /// device or the network between went away without closing the connection), so its topics answer 404 again.</summary>
    private async Task WatchAsync(DeviceLink link, CancellationToken cancellationToken)
    {
        var silentAfter = DeviceRecord.OfflineAfter(_options.HeartbeatInterval);
        try
        {
            using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (_time.GetElapsedTime(link.LastMessage) > silentAfter)
                {
                    var reason = $"device {link.Provider} sent nothing for {silentAfter.TotalSeconds:0.###} s ({DeviceRecord.MissedHeartbeats} heartbeat intervals)";
                    LogSilent(_logger, link.Provider, silentAfter.TotalSeconds);
                    link.Close(new Status(StatusCode.Unavailable, reason), reason);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CallGrainAsync(Func<Task> call, string provider)
    {
        try
        {
            await call();
        }
        catch (Exception e)
        {
            LogGrainFailed(_logger, e, provider);
        }
    }

    private void OnBuildAdded(BuildInfo build)
    {
        foreach (var link in _links.Values)
        {
            if (string.Equals(link.Arch, build.Arch, StringComparison.Ordinal))
            {
                link.TrySend(new LinkMessage { Build = build });
            }
        }
    }

    private static string? BearerToken(ServerCallContext context)
    {
        var value = context.RequestHeaders.GetValue("authorization");
        return value is not null && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && value.Length > 7 ? value[7..].Trim() : null;
    }

    private static DeviceHello ToHello(Hello hello, List<(string Publisher, string Service)> services) => new(
        hello.Version,
        hello.Arch,
        hello.Hostname,
        [.. services.Select(s => new DeviceServiceName(s.Publisher, s.Service))],
        ToJobs(hello.Jobs),
        hello.AutoUpdate);

    private static DeviceJob[] ToJobs(IEnumerable<EdgeJob> jobs) =>
        [.. jobs.Select(j => new DeviceJob(j.Id, j.Name, j.Group, j.StartAt?.ToDateTimeOffset(), j.Status, j.Restarts))];

    private static string Describe(DeviceMessage message) => message.KindCase switch
    {
        DeviceMessage.KindOneofCase.None => "a DeviceMessage with no kind set",
        var kind => kind.ToString().ToLowerInvariant(),
    };

    private static string Printable(string text) =>
        string.Concat(text.Take(80).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {Provider} linked from {Peer} with {Services} WAN services")]
    private static partial void LogConnected(ILogger logger, string provider, string peer, int services);

    [LoggerMessage(Level = LogLevel.Information, Message = "The link of device {Provider} ended: {Reason}")]
    private static partial void LogDisconnected(ILogger logger, string provider, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A link as device {Provider} from {Peer} was refused: the token is not the device's")]
    private static partial void LogRefused(ILogger logger, string provider, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider} sent nothing for {Seconds} s: closing its link")]
    private static partial void LogSilent(ILogger logger, string provider, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "The token of device {Provider} was revoked: closing its link")]
    private static partial void LogRevoked(ILogger logger, string provider);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: the service {Publisher}/{Service} was refused: {Reason}")]
    private static partial void LogServiceRefused(ILogger logger, string provider, string publisher, string service, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: reporting to its grain failed")]
    private static partial void LogGrainFailed(ILogger logger, Exception exception, string provider);

    [LoggerMessage(Level = LogLevel.Error, Message = "Device {Provider}: its call of {Topic} failed in the gateway")]
    private static partial void LogCallFailed(ILogger logger, Exception exception, string provider, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: WAN discovery failed")]
    private static partial void LogDiscoverFailed(ILogger logger, Exception exception, string provider);
}
