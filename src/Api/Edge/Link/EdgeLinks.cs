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
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;
using Request = Trellis.Core.Messaging.Request;
using Subscription = Trellis.Core.Bus.Subscription;

namespace Trellis.Api.Edge.Link;

/// <summary>The gateway's side of device links (trellis.v1.Edge/Link): authenticates the device with its own token,
/// makes its WAN services cluster services (<see cref="EdgeTopics"/>) served down the link, carries the device's calls
/// into the cluster within its grant, and reports the link to the device's grain.</summary>
public sealed partial class EdgeLinks
{
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(30);

    private readonly BusHost _bus;
    private readonly IGrainFactory _grains;
    private readonly IEdgeBuilds? _builds;
    private readonly EdgeLinkOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EdgeLinks> _logger;
    private readonly ConcurrentDictionary<string, DeviceLink> _links = new(StringComparer.Ordinal);
    private readonly SharedTopics _topics = new();
    private readonly HandlerOptions _handlerOptions;

    public EdgeLinks(
        BusHost bus, IGrainFactory grains, EdgeLinkOptions options, TimeProvider time, ILogger<EdgeLinks> logger, IEdgeBuilds? builds = null, IHostApplicationLifetime? lifetime = null)
    {
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
        Subscription? revoked = null;
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
            LogConnected(_logger, provider, context.Peer, link.Services.Count);

            using var serving = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, link.Ended);
            while (await ReadAsync(requestStream, serving.Token) is { } message)
            {
                await HandleAsync(bus, device, link, grant, message);
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
            _links.TryRemove(new KeyValuePair<string, DeviceLink>(provider, link));
            await CallGrainAsync(() => device.Disconnected(linkId), provider);
            await done.CancelAsync();
            await writer;
            LogDisconnected(_logger, provider, reason);
        }
    }

    // ---------------------------------------------------------------- from the device

    private async Task HandleAsync(MessageBus bus, IDeviceGrain device, DeviceLink link, string[] grant, DeviceMessage message)
    {
        var now = _time.GetTimestamp();
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
            case DeviceMessage.KindOneofCase.Hello:
                throw new RpcException(new Status(StatusCode.InvalidArgument, "hello is only the first message of a link; send services or jobs to change what the device announced"));
            default:
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"the link does not take {Describe(message)}"));
        }
    }

    private async Task CallAsync(MessageBus bus, DeviceLink link, string[] grant, ClusterCall call)
    {
        var result = new CallResult { CorrelationId = call.CorrelationId };
        try
        {
            var message = await CallClusterAsync(bus, link.Provider, grant, call, link.Ended);
            result.Code = message.Code;
            result.Data = ProtoJson.ToValue(message.Data);
        }
        catch (TrellisException e)
        {
            result.Code = e.Kind == ErrorKind.InvalidArgument ? Codes.BadRequest : Codes.HandlerError;
            result.Data = Value.ForString(e.Message);
        }
        catch (OperationCanceledException) when (link.Ended.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            LogCallFailed(_logger, e, link.Provider, call.Topic);
            result.Code = Codes.HandlerError;
            result.Data = Value.ForString($"the call of {call.Topic} failed in the gateway; its log has the details");
        }

        link.TrySend(new LinkMessage { CallResult = result });
    }

    private async Task<Message> CallClusterAsync(MessageBus bus, string provider, string[] grant, ClusterCall call, CancellationToken cancellationToken)
    {
        var topic = call.Topic;
        if (topic.Length == 0)
        {
            return Message.Error(Codes.BadRequest, "call.topic is empty");
        }

        if (topic.StartsWith("edge._", StringComparison.Ordinal) || !Array.Exists(grant, g => Glob.IsMatch(g, topic)))
        {
            return Message.Error(403, $"device {provider} may not call {topic}: its grant is [{string.Join(", ", grant)}]");
        }

        var data = ProtoJson.ToPayload(call.Data, "call.data");
        if (call.Signal)
        {
            var status = await bus.SignalAsync(topic, data, cancellationToken);
            return status switch
            {
                PublishStatus.Unroutable => Message.Error(Codes.NotFound, $"no slot subscribes {topic}"),
                PublishStatus.QueueFull => Message.Error(Codes.QueueFull, $"a slot's queue for {topic} is full"),
                _ => Message.Ok(JsonPayload.Parse("{\"status\":\"published\"}")),
            };
        }

        var timeout = call.Timeout > 0 && double.IsFinite(call.Timeout) ? TimeSpan.FromSeconds(Math.Min(call.Timeout, 3600)) : (TimeSpan?)null;
        return await bus.RequestAsync(topic, data, timeout, cancellationToken);
    }

    private async Task DiscoverAsync(DeviceLink link, DiscoverCall call)
    {
        var result = new DiscoverResult { CorrelationId = call.CorrelationId };
        try
        {
            result.Services.AddRange(await DiscoverAsync(call.Publisher, call.Service));
        }
        catch (Exception e)
        {
            LogDiscoverFailed(_logger, e, link.Provider);
        }

        link.TrySend(new LinkMessage { Discovered = result });
    }

    /// <summary>The WAN scope: services of online devices whose names match the (wildcard) patterns; empty means '*'.</summary>
    public async Task<IReadOnlyList<EdgeService>> DiscoverAsync(string publisher, string service)
    {
        var publisherPattern = publisher.Length == 0 ? "*" : publisher;
        var servicePattern = service.Length == 0 ? "*" : service;
        var providers = await _grains.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key).List();
        var records = await Task.WhenAll(providers.Select(p => _grains.GetGrain<IDeviceGrain>(p).Get()));
        var found = new List<EdgeService>();
        foreach (var record in records)
        {
            if (record is not { Online: true })
            {
                continue;
            }

            foreach (var s in record.Services)
            {
                if (Glob.IsMatch(publisherPattern, s.Publisher) && Glob.IsMatch(servicePattern, s.Service))
                {
                    found.Add(new EdgeService
                    {
                        Publisher = s.Publisher,
                        Service = s.Service,
                        Provider = record.Provider,
                        Topic = EdgeTopics.Instance(s.Publisher, s.Service, record.Provider),
                    });
                }
            }
        }

        return found;
    }

    // ---------------------------------------------------------------- from the cluster

    private async ValueTask<Message> ServeAsync(DeviceLink link, Request request, CancellationToken cancellationToken)
    {
        var (publisher, service) = ServiceOf(request.Topic, link.Provider);
        var wait = request.Timeout > TimeSpan.Zero && request.Timeout < _options.RequestTimeout ? request.Timeout : _options.RequestTimeout;
        if (request.Data.Length > _options.MaxMessageBytes)
        {
            return Message.Error(413, $"the request's data ({request.Data.Length} bytes) is larger than the link's limit of {_options.MaxMessageBytes} bytes (Trellis:Edge:MaxMessageBytes)");
        }

        var edgeRequest = new EdgeRequest
        {
            Publisher = publisher,
            Service = service,
            Topic = request.Topic,
            Sender = request.Sender,
            Data = ProtoJson.ToValue(request.Data),
            Priority = Contracts.V1.Priority.Normal,
        };
        return await link.RequestAsync(edgeRequest, wait, cancellationToken);
    }

    private async ValueTask<Message> ControlAsync(DeviceLink link, Request request, CancellationToken cancellationToken)
    {
        DeviceCommand command;
        TimeSpan wait;
        try
        {
            (command, wait) = ParseControl(request.Data);
        }
        catch (Exception e) when (e is JsonException or TrellisException or InvalidOperationException or FormatException)
        {
            return Message.Error(Codes.BadRequest, e is TrellisException ? e.Message : $"the control request is not {{\"method\", \"path\", \"body\"?, \"priority\"?, \"timeout\"?}}: {e.Message}");
        }

        var result = await link.CommandAsync(command, wait, cancellationToken);
        if (result is null)
        {
            return Message.Error(Codes.HandlerTimeout, $"device {link.Provider} did not answer the command within {wait.TotalMilliseconds:0} ms");
        }

        var reply = new JsonObject
        {
            ["status"] = result.Status,
            ["body"] = JsonNode.Parse(ProtoJson.ToPayload(result.Body, "the command's body").ToString()),
        };
        return Message.Ok(JsonPayload.Parse(reply.ToJsonString()));
    }

    private static (DeviceCommand Command, TimeSpan Wait) ParseControl(JsonPayload data)
    {
        var json = JsonNode.Parse(data.ToString()) as JsonObject ?? throw TrellisException.Invalid("the control request must be a JSON object {\"method\", \"path\", ...}");
        var method = (string?)json["method"];
        var path = (string?)json["path"];
        if (string.IsNullOrEmpty(method) || string.IsNullOrEmpty(path) || path[0] != '/')
        {
            throw TrellisException.Invalid("the control request needs \"method\" and \"path\" (starting with '/')");
        }

        var command = new DeviceCommand
        {
            Method = method,
            Path = path,
            Priority = (string?)json["priority"] switch
            {
                null or "normal" => Contracts.V1.Priority.Normal,
                "high" => Contracts.V1.Priority.High,
                "low" => Contracts.V1.Priority.Low,
                var other => throw TrellisException.Invalid($"the control request's priority '{other}' is not high, normal or low"),
            },
        };
        if (json["body"] is { } body)
        {
            command.Body = ProtoJson.ToValue(JsonPayload.Parse(body.ToJsonString()));
        }

        var seconds = json["timeout"] is { } t ? (double)t : 0;
        var wait = seconds > 0 && double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Min(seconds, 3600)) : ControlTimeout;
        return (command, wait);
    }

    // ---------------------------------------------------------------- services

    private List<(string Publisher, string Service)> AcceptedServices(string provider, IEnumerable<ServiceName> names)
    {
        var accepted = new List<(string, string)>();
        foreach (var name in names)
        {
            if (NameProblem(name.Publisher) is { } p)
            {
                LogServiceRefused(_logger, provider, name.Publisher, name.Service, $"publisher {p}");
            }
            else if (NameProblem(name.Service) is { } s)
            {
                LogServiceRefused(_logger, provider, name.Publisher, name.Service, $"service {s}");
            }
            else if (!accepted.Contains((name.Publisher, name.Service)))
            {
                accepted.Add((name.Publisher, name.Service));
            }
        }

        return accepted;
    }

    /// <summary>Subscribes what is new in <paramref name="services"/> and unsubscribes what is gone.</summary>
    private async Task SetServicesAsync(MessageBus bus, DeviceLink link, IReadOnlyCollection<(string Publisher, string Service)> services)
    {
        foreach (var gone in link.Services.Where(s => !services.Contains(s)).ToArray())
        {
            link.Services.Remove(gone);
            await _topics.RemoveAsync(EdgeTopics.Service(gone.Publisher, gone.Service), link);
            await _topics.RemoveAsync(EdgeTopics.Instance(gone.Publisher, gone.Service, link.Provider), link);
        }

        foreach (var added in services.Where(s => !link.Services.Contains(s)).ToArray())
        {
            try
            {
                await _topics.AddAsync(bus, EdgeTopics.Service(added.Publisher, added.Service), link, ServeAsync, _handlerOptions);
                await _topics.AddAsync(bus, EdgeTopics.Instance(added.Publisher, added.Service, link.Provider), link, ServeAsync, _handlerOptions);
                link.Services.Add(added);
            }
            catch (TrellisException e)
            {
                LogServiceRefused(_logger, link.Provider, added.Publisher, added.Service, e.Message);
                await _topics.RemoveAsync(EdgeTopics.Service(added.Publisher, added.Service), link);
            }
        }
    }

    /// <summary>Why a publisher or service name is refused, or null: 1-64 characters without '_', '/', '.', '*', '#',
    /// whitespace or control characters (the topics edge.&lt;publisher&gt;.&lt;service&gt;[.&lt;provider&gt;] must stay unambiguous).</summary>
    internal static string? NameProblem(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return $"'{Printable(name)}' must be 1-64 characters long (is {name.Length})";
        }

        foreach (var c in name)
        {
            if (c is '_' or '/' or '.' or '*' or '#' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return $"'{Printable(name)}' contains '{Printable(c.ToString())}': names may not contain '_', '/', '.', '*', '#' or whitespace";
            }
        }

        return null;
    }

    /// <summary>Why a provider id is refused, or null: 1-64 letters, digits, '-' or '_'.</summary>
    internal static string? ProviderProblem(string provider)
    {
        if (provider.Length is 0 or > 64)
        {
            return $"'{Printable(provider)}' must be 1-64 characters long (is {provider.Length})";
        }

        foreach (var c in provider)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return $"'{Printable(provider)}' contains '{Printable(c.ToString())}': a provider id has only letters, digits, '-' and '_'";
            }
        }

        return null;
    }

    private static (string Publisher, string Service) ServiceOf(string topic, string provider)
    {
        // edge.<publisher>.<service> or edge.<publisher>.<service>.<provider>; names have no dots.
        var parts = topic.Split('.');
        return parts.Length >= 3 ? (parts[1], parts[2]) : ("", "");
    }

    // ---------------------------------------------------------------- plumbing

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
