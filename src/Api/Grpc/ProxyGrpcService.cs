using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Trellis.Api.Grpc.Internal;
using Trellis.Api.Proxy;
using Trellis.Api.Proxy.Internal;
using Trellis.Contracts.V1;
using PublishRequest = Trellis.Contracts.V1.PublishRequest;
using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Grpc;
using Trellis.Grpc.Server;

namespace Trellis.Api.Grpc;

/// <summary>The gRPC API of the node proxy (protos/trellis/v1 nodes.proto and messaging.proto): each method converts its
/// request to the HTTP API's JSON form and calls the same <see cref="ProxyOperations"/> as the REST handlers.</summary>
internal sealed partial class ProxyGrpcService
{
    /// <summary>Trailer with the Gilmour code of a request that did not end in 200.</summary>
    public const string CodeTrailer = "trellis-code";

    private readonly ProxyOperations _operations;
    private readonly ILogger _logger;

    public ProxyGrpcService(ProxyOperations operations, ILogger<ProxyGrpcService> logger)
    {
        _operations = operations;
        _logger = logger;

        var nodes = new GrpcServiceBuilder(NodesReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Nodes"));
        Nodes = nodes
            .AddUnary(nodes.Method<RegisterNodeRequest, RegisterNodeResponse>("RegisterNode"), (r, c) => Guard(c, () => RegisterAsync(r, c)))
            .AddUnary(nodes.Method<NodeRef, Node>("GetNode"), (r, c) => Guard(c, () => Task.FromResult(ToNode(Authorize(c, r.Id)))))
            .AddUnary(nodes.Method<NodeRef, StatusResponse>("DeleteNode"), (r, c) => Guard(c, () => DeleteAsync(r, c)))
            .AddUnary(nodes.Method<AddSubscriptionRequest, StatusResponse>("AddSlot"), (r, c) => Guard(c, () => AddSubscriptionAsync(r, c, service: false)))
            .AddUnary(nodes.Method<NodeRef, SubscriptionList>("ListSlots"), (r, c) => Guard(c, () => Task.FromResult(List(Authorize(c, r.Id), service: false))))
            .AddUnary(nodes.Method<RemoveSubscriptionsRequest, StatusResponse>("RemoveSlots"), (r, c) => Guard(c, () => RemoveSubscriptionsAsync(r, c, service: false)))
            .AddUnary(nodes.Method<AddSubscriptionRequest, StatusResponse>("AddService"), (r, c) => Guard(c, () => AddSubscriptionAsync(r, c, service: true)))
            .AddUnary(nodes.Method<NodeRef, SubscriptionList>("ListServices"), (r, c) => Guard(c, () => Task.FromResult(List(Authorize(c, r.Id), service: true))))
            .AddUnary(nodes.Method<RemoveSubscriptionsRequest, StatusResponse>("RemoveServices"), (r, c) => Guard(c, () => RemoveSubscriptionsAsync(r, c, service: true)))
            .AddDuplexStreaming(nodes.Method<NodeMessage, GatewayMessage>("Connect"), ConnectAsync)
            .Build();

        var messaging = new GrpcServiceBuilder(MessagingReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Messaging"));
        Messaging = messaging
            .AddUnary(messaging.Method<PublishRequest, PublishResponse>("Request"), (r, c) => Guard(c, () => RequestAsync(r, c)))
            .AddUnary(messaging.Method<SignalRequest, SignalResponse>("Signal"), (r, c) => Guard(c, () => SignalAsync(r, c)))
            .Build();
    }

    /// <summary>trellis.v1.Nodes.</summary>
    public GrpcServiceDefinition Nodes { get; }

    /// <summary>trellis.v1.Messaging.</summary>
    public GrpcServiceDefinition Messaging { get; }

    /// <summary>The types that may appear in error details (for JSON transcoding).</summary>
    public static TypeRegistry DetailTypes { get; } = TypeRegistry.FromFiles(MessagingReflection.Descriptor, NodesReflection.Descriptor);

    // ---------------------------------------------------------------- nodes

    private async Task<RegisterNodeResponse> RegisterAsync(RegisterNodeRequest request, ServerCallContext context)
    {
        NodeRecord record;
        string token;
        using (var json = ProtoJson.ToJson(request))
        {
            (record, token) = await _operations.RegisterAsync(json.RootElement, stream: null, context.CancellationToken);
        }

        return new RegisterNodeResponse { Id = record.Id, Status = record.Status.ToWire(), Token = token };
    }

    private async Task<StatusResponse> DeleteAsync(NodeRef request, ServerCallContext context)
    {
        await _operations.DeleteAsync(Authorize(context, request.Id));
        return Ok;
    }

    private async Task<StatusResponse> AddSubscriptionAsync(AddSubscriptionRequest request, ServerCallContext context, bool service)
    {
        var node = Authorize(context, request.Id);
        var subscription = new Subscription { Topic = request.Topic, Group = request.Group, Path = request.Path, Timeout = request.Timeout };
        using (var json = ProtoJson.ToJson(subscription))
        {
            await _operations.AddSubscriptionAsync(node, json.RootElement, service);
        }

        return Ok;
    }

    private static SubscriptionList List(LiveNode node, bool service)
    {
        var list = new SubscriptionList();
        list.Subscriptions.AddRange(ToSubscriptions(ProxyOperations.Subscriptions(node, service)));
        return list;
    }

    private async Task<StatusResponse> RemoveSubscriptionsAsync(RemoveSubscriptionsRequest request, ServerCallContext context, bool service)
    {
        var node = Authorize(context, request.Id);
        await _operations.RemoveSubscriptionsAsync(node, service, NullIfEmpty(request.Topic), NullIfEmpty(request.Path));
        return Ok;
    }

    // ---------------------------------------------------------------- messaging

    private async Task<PublishResponse> RequestAsync(PublishRequest request, ServerCallContext context)
    {
        Authorize(context, request.Id);
        CompositionResult result;
        using (var json = ProtoJson.ToJson(WithoutId(request)))
        {
            result = await _operations.RequestAsync(json.RootElement, context.CancellationToken);
        }

        var response = new PublishResponse { Code = result.Code, Length = result.Length };
        foreach (var message in result.Messages)
        {
            response.Messages.Add(new ReplyMessage { Data = ProtoJson.ToValue(message.Data), Code = message.Code });
        }

        if (result.Code == Codes.Ok)
        {
            return response;
        }

        // Not 200: a gRPC error, as POST /request/:id answers with the code as its HTTP status; the replies travel in the details.
        var status = RequestCodes.ToStatusCode(result.Code);
        var detail = $"the request ended with code {result.Code}: {RequestCodes.FirstFailure(result)}";
        var details = new Google.Rpc.Status { Code = (int)status, Message = detail };
        details.Details.Add(Any.Pack(response));
        var trailers = new Metadata()
            .Add(CodeTrailer, result.Code.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Add("grpc-status-details-bin", details.ToByteArray());
        throw new GrpcException(status, detail, trailers);
    }

    private async Task<SignalResponse> SignalAsync(SignalRequest request, ServerCallContext context)
    {
        Authorize(context, request.Id);
        using (var json = ProtoJson.ToJson(new SignalRequest(request) { Id = "" }))
        {
            await _operations.SignalAsync(json.RootElement, context.CancellationToken);
        }

        return new SignalResponse { Status = "ok" };
    }

    // ---------------------------------------------------------------- Connect

    private async Task ConnectAsync(IAsyncEnumerable<NodeMessage> requests, IServerStreamWriter<GatewayMessage> responses, ServerCallContext context)
    {
        var registry = _operations.Registry;
        var stream = new NodeStream(context.Peer, registry.Time, registry.MaxReplyBytes);
        using var serving = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stream.Ended);
        await using var incoming = requests.GetAsyncEnumerator(serving.Token);
        var first = await incoming.MoveNextAsync()
            ? incoming.Current
            : throw new GrpcException(StatusCode.InvalidArgument, "the stream ended before its first message: send register or attach first");

        LiveNode node;
        string token;
        var registered = false;
        try
        {
            switch (first.KindCase)
            {
                case NodeMessage.KindOneofCase.Register:
                    NodeRecord record;
                    using (var json = ProtoJson.ToJson(first.Register))
                    {
                        (record, token) = await _operations.RegisterAsync(json.RootElement, stream, context.CancellationToken);
                    }

                    node = registry.Find(record.Id) ?? throw new TrellisException(ErrorKind.NotFound, $"node {record.Id} was deleted as it registered");
                    registered = true;
                    break;
                case NodeMessage.KindOneofCase.Attach:
                    node = _operations.Authorize(context.HttpContext.Request, first.Attach.Id);
                    await registry.AttachStreamAsync(node, stream);
                    token = "";
                    break;
                default:
                    throw TrellisException.Invalid($"the first message on a Connect stream must be register or attach, not {Describe(first)}");
            }
        }
        catch (TrellisException e)
        {
            throw GrpcErrors.ToStatus(e, _logger, context);
        }

        LogConnected(_logger, node.Id, context.Peer, registered ? "registered" : "attached");
        var connected = new GatewayMessage { Connected = new RegisterNodeResponse { Id = node.Id, Status = node.Record.Status.ToWire(), Token = token } };
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var writer = WriteLoopAsync(stream, connected, responses, done.Token);
        var graceful = false;
        var reason = "the client cancelled it or went away";
        try
        {
            while (await incoming.MoveNextAsync())
            {
                var message = incoming.Current;
                if (message.KindCase != NodeMessage.KindOneofCase.Reply)
                {
                    throw new GrpcException(StatusCode.InvalidArgument, $"after the first message a Connect stream carries only replies, not {Describe(message)}");
                }

                stream.Complete(message.Reply);
            }

            graceful = true;
            reason = "the client ended it";
        }
        catch (GrpcException e)
        {
            reason = e.Detail;
            throw;
        }
        catch (OperationCanceledException) when (stream.ClosedReason is { } closed && !context.CancellationToken.IsCancellationRequested)
        {
            // The gateway ended the stream: the node was deleted.
            reason = closed;
            throw new GrpcException(StatusCode.NotFound, closed);
        }
        finally
        {
            stream.Close(node.Id, reason);
            await registry.DetachStreamAsync(node, stream, delete: graceful && registered, reason);
            await done.CancelAsync();
            await writer;
        }
    }

    private static async Task WriteLoopAsync(NodeStream stream, GatewayMessage connected, IServerStreamWriter<GatewayMessage> responses, CancellationToken cancellationToken)
    {
        try
        {
            await responses.WriteAsync(connected, cancellationToken);
            await foreach (var message in stream.Outbound.ReadAllAsync(cancellationToken))
            {
                await responses.WriteAsync(message, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The call is over (client gone, stream closed): the reader side notices and ends the node's stream.
        }
    }

    private static string Describe(NodeMessage message) => message.KindCase switch
    {
        NodeMessage.KindOneofCase.Register => "register",
        NodeMessage.KindOneofCase.Attach => "attach",
        NodeMessage.KindOneofCase.Reply => "reply",
        _ => "an empty NodeMessage",
    };

    // ---------------------------------------------------------------- helpers

    private static readonly StatusResponse Ok = new() { Status = "ok" };

    private LiveNode Authorize(ServerCallContext context, string id) => _operations.Authorize(context.HttpContext.Request, id);

    private static PublishRequest WithoutId(PublishRequest request) => new(request) { Id = "" };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static Node ToNode(LiveNode live)
    {
        var record = live.Record;
        var node = new Node
        {
            Id = record.Id,
            Host = record.Host,
            Port = record.Port,
            HealthCheck = record.HealthCheck,
            Status = record.Status.ToWire(),
            Stream = live.Stream is { IsClosed: false },
        };
        node.Slots.AddRange(ToSubscriptions(record.Slots));
        node.Services.AddRange(ToSubscriptions(record.Services));
        return node;
    }

    private static IEnumerable<Subscription> ToSubscriptions(IReadOnlyList<NodeSubscription> list)
    {
        foreach (var s in list)
        {
            yield return new Subscription { Topic = s.Topic, Group = s.Group ?? "", Path = s.Path, Timeout = s.Timeout.TotalSeconds };
        }
    }

    /// <summary>Runs a unary handler and turns the domain's errors into gRPC statuses.</summary>
    private async Task<T> Guard<T>(ServerCallContext context, Func<Task<T>> handler)
    {
        try
        {
            return await handler();
        }
        catch (TrellisException e)
        {
            throw GrpcErrors.ToStatus(e, _logger, context);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} connected by a Connect stream from {Peer} ({How})")]
    private static partial void LogConnected(ILogger logger, string nodeId, string peer, string how);
}

/// <summary>The gRPC status of a request's Gilmour code (src/Api/README.md has the table).</summary>
internal static class RequestCodes
{
    public static StatusCode ToStatusCode(int code) => code switch
    {
        >= 200 and < 300 => StatusCode.OK,
        400 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        409 => StatusCode.Aborted,
        429 => StatusCode.ResourceExhausted,
        Codes.RequestTimeout or Codes.HandlerTimeout or 408 => StatusCode.DeadlineExceeded,
        501 => StatusCode.Unimplemented,
        Codes.QueueFull => StatusCode.Unavailable,
        >= 300 and < 500 => StatusCode.FailedPrecondition,
        _ => StatusCode.Unknown,
    };

    /// <summary>The data of the first reply with the highest code, as text for a status message.</summary>
    public static string FirstFailure(CompositionResult result)
    {
        Message? worst = null;
        foreach (var message in result.Messages)
        {
            if (worst is null || message.Code > worst.Value.Code)
            {
                worst = message;
            }
        }

        if (worst is not { } found)
        {
            return "no reply";
        }

        var element = found.Data.ToJsonElement();
        var text = element.ValueKind == System.Text.Json.JsonValueKind.String ? element.GetString() ?? "" : found.Data.ToString();
        return text.Length <= 500 ? text : string.Concat(text.AsSpan(0, 500), "…");
    }
}
