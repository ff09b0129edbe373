using Grpc.Core;
using Microsoft.Extensions.Logging;
using Trellis.Api.Proxy;
using Trellis.Api.Proxy.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;
using Trellis.Core.Nodes;

namespace Trellis.Api.Grpc;

/// <summary><c>trellis.v1.Nodes</c> (protos/trellis/v1/nodes.proto): the node operations of the proxy API, with the
/// same <see cref="ProxyOperations"/> as the REST handlers, and <c>Connect</c>, the stream through which a gRPC client is
/// a node. Domain errors become statuses in <see cref="Internal.ErrorInterceptor"/>.</summary>
internal sealed partial class NodesGrpcService(ProxyOperations operations, ILogger<NodesGrpcService> logger, Flows.NodeParticipants? participants = null) : Nodes.NodesBase
{
    private static readonly StatusResponse Ok = new() { Status = "ok" };

    public override async Task<RegisterNodeResponse> RegisterNode(RegisterNodeRequest request, ServerCallContext context)
    {
        var ports = Flows.NodeParticipants.ParsePorts(request);
        var registration = operations.Parse.Registration(request) with { Flow = ports?.ToDeclaration() };
        var (record, token) = await operations.RegisterAsync(registration, stream: null, context.CancellationToken);
        await AttachPortsAsync(record, ports);
        return new RegisterNodeResponse { Id = record.Id, Status = record.Status.ToWire(), Token = token };
    }

    public override async Task<StatusResponse> SendOutport(OutportMessage request, ServerCallContext context)
    {
        await AuthorizeAsync(context, request.Id);
        var data = Internal.ProtoJson.ToPayload(request.Data, "data");
        var flows = participants ?? throw new TrellisException(ErrorKind.Unavailable, "flows are not available in this process");
        await flows.PublishAsync(request.Id, request.Port, data.IsNull ? "null"u8.ToArray() : data.Utf8, context.CancellationToken);
        return Ok;
    }

    /// <summary>Makes a node that declared flow ports a participant (issue 11 item 6).</summary>
    private async Task AttachPortsAsync(NodeRecord record, Flows.NodeFlowPorts? ports)
    {
        if (ports is not null && participants is not null)
        {
            await participants.AttachAsync(record, ports);
        }
    }

    public override async Task<Node> GetNode(NodeRef request, ServerCallContext context) =>
        ToNode(await AuthorizeAsync(context, request.Id), operations.Registry);

    public override async Task<StatusResponse> DeleteNode(NodeRef request, ServerCallContext context)
    {
        await operations.DeleteAsync(await AuthorizeLocalAsync(context, request.Id));
        return Ok;
    }

    public override Task<StatusResponse> AddSlot(AddSubscriptionRequest request, ServerCallContext context) =>
        AddSubscriptionAsync(request, context, service: false);

    public override Task<StatusResponse> AddService(AddSubscriptionRequest request, ServerCallContext context) =>
        AddSubscriptionAsync(request, context, service: true);

    public override async Task<SubscriptionList> ListSlots(NodeRef request, ServerCallContext context) =>
        List(await AuthorizeAsync(context, request.Id), service: false);

    public override async Task<SubscriptionList> ListServices(NodeRef request, ServerCallContext context) =>
        List(await AuthorizeAsync(context, request.Id), service: true);

    public override Task<StatusResponse> RemoveSlots(RemoveSubscriptionsRequest request, ServerCallContext context) =>
        RemoveSubscriptionsAsync(request, context, service: false);

    public override Task<StatusResponse> RemoveServices(RemoveSubscriptionsRequest request, ServerCallContext context) =>
        RemoveSubscriptionsAsync(request, context, service: true);

    public override async Task Connect(IAsyncStreamReader<NodeMessage> requestStream, IServerStreamWriter<GatewayMessage> responseStream, ServerCallContext context)
    {
        var registry = operations.Registry;
        var stream = new NodeStream(context.Peer, registry.Time, registry.MaxReplyBytes);
        using var serving = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stream.Ended);
        var first = await requestStream.MoveNext(serving.Token)
            ? requestStream.Current
            : throw new RpcException(new Status(StatusCode.InvalidArgument, "the stream ended before its first message: send register or attach first"));

        LiveNode node;
        string token;
        var registered = false;
        switch (first.KindCase)
        {
            case NodeMessage.KindOneofCase.Register:
                var ports = Flows.NodeParticipants.ParsePorts(first.Register);
                var registration = operations.Parse.Registration(first.Register, streamNode: true) with { Flow = ports?.ToDeclaration() };
                var (record, issued) = await operations.RegisterAsync(registration, stream, context.CancellationToken);
                await AttachPortsAsync(record, ports);
                node = registry.Find(record.Id) ?? throw new TrellisException(ErrorKind.NotFound, $"node {record.Id} was deleted as it registered");
                token = issued;
                registered = true;
                break;
            case NodeMessage.KindOneofCase.Attach:
                node = await AuthorizeLocalAsync(context, first.Attach.Id);
                await registry.AttachStreamAsync(node, stream);
                token = "";
                break;
            default:
                throw TrellisException.Invalid($"the first message on a Connect stream must be register or attach, not {Describe(first)}");
        }

        LogConnected(logger, node.Id, context.Peer, registered ? "registered" : "attached");
        var connected = new GatewayMessage { Connected = new RegisterNodeResponse { Id = node.Id, Status = node.Record.Status.ToWire(), Token = token } };
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var writer = WriteLoopAsync(stream, connected, responseStream, done.Token);
        var graceful = false;
        var reason = "the client cancelled it or went away";
        try
        {
            while (await requestStream.MoveNext(serving.Token))
            {
                var message = requestStream.Current;
                if (message.KindCase != NodeMessage.KindOneofCase.Reply)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"after the first message a Connect stream carries only replies, not {Describe(message)}"));
                }

                stream.Complete(message.Reply);
            }

            graceful = true;
            reason = "the client ended it";
        }
        catch (RpcException e)
        {
            reason = e.Status.Detail;
            throw;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && stream.ClosedReason is { } closed && !context.CancellationToken.IsCancellationRequested)
        {
            // The gateway ended the stream: the node was deleted.
            reason = closed;
            throw new RpcException(new Status(StatusCode.NotFound, closed));
        }
        finally
        {
            stream.Close(node.Id, reason);
            await registry.DetachStreamAsync(node, stream, delete: graceful && registered, reason);
            await done.CancelAsync();
            await writer;
        }
    }

    private async Task<StatusResponse> AddSubscriptionAsync(AddSubscriptionRequest request, ServerCallContext context, bool service)
    {
        var node = await AuthorizeLocalAsync(context, request.Id);
        var subscription = operations.Parse.Subscription(request.Topic, request.Group, request.Path, request.Timeout, "", service, pathOptional: node.Record.IsStreamNode);
        await operations.AddSubscriptionAsync(node, subscription, service);
        return Ok;
    }

    private async Task<StatusResponse> RemoveSubscriptionsAsync(RemoveSubscriptionsRequest request, ServerCallContext context, bool service)
    {
        var node = await AuthorizeLocalAsync(context, request.Id);
        await operations.RemoveSubscriptionsAsync(node, service, NullIfEmpty(request.Topic), NullIfEmpty(request.Path));
        return Ok;
    }

    private static SubscriptionList List(NodeRecord node, bool service)
    {
        var list = new SubscriptionList();
        list.Subscriptions.AddRange(ToSubscriptions(ProxyOperations.Subscriptions(node, service)));
        return list;
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

    private Task<NodeRecord> AuthorizeAsync(ServerCallContext context, string id) => operations.AuthorizeAsync(context.GetHttpContext().Request, id);

    private Task<LiveNode> AuthorizeLocalAsync(ServerCallContext context, string id) => operations.AuthorizeLocalAsync(context.GetHttpContext().Request, id);

    private static string Describe(NodeMessage message) => message.KindCase switch
    {
        NodeMessage.KindOneofCase.Register => "register",
        NodeMessage.KindOneofCase.Attach => "attach",
        NodeMessage.KindOneofCase.Reply => "reply",
        _ => "an empty NodeMessage",
    };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static Node ToNode(NodeRecord record, NodeRegistry registry)
    {
        // A node served by another gateway is on a live stream there when it is a stream node that is ok.
        var live = registry.Find(record.Id);
        var node = new Node
        {
            Id = record.Id,
            Host = record.Host,
            Port = record.Port,
            HealthCheck = record.HealthCheck,
            Status = record.Status.ToWire(),
            Stream = live is null ? record.IsStreamNode && record.Status == NodeStatus.Ok : live.Stream is { IsClosed: false },
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} connected by a Connect stream from {Peer} ({How})")]
    private static partial void LogConnected(ILogger logger, string nodeId, string peer, string how);
}
