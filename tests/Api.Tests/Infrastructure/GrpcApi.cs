using System.Threading.Channels;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Trellis.Contracts.V1;
using Trellis.Grpc;
using Trellis.Grpc.Client;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Infrastructure;

/// <summary>The methods of trellis.v1.Nodes, trellis.v1.Messaging and trellis.v1.Apps for our <see cref="GrpcChannel"/>.</summary>
public static class GrpcApi
{
    private static readonly ServiceDescriptor NodesService = NodesReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Nodes");
    private static readonly ServiceDescriptor MessagingService = MessagingReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Messaging");
    private static readonly ServiceDescriptor AppsService = AppsReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Apps");

    public static readonly GrpcMethod<RegisterNodeRequest, RegisterNodeResponse> RegisterNode = Method<RegisterNodeRequest, RegisterNodeResponse>(NodesService, "RegisterNode");
    public static readonly GrpcMethod<NodeRef, Node> GetNode = Method<NodeRef, Node>(NodesService, "GetNode");
    public static readonly GrpcMethod<NodeRef, StatusResponse> DeleteNode = Method<NodeRef, StatusResponse>(NodesService, "DeleteNode");
    public static readonly GrpcMethod<AddSubscriptionRequest, StatusResponse> AddSlot = Method<AddSubscriptionRequest, StatusResponse>(NodesService, "AddSlot");
    public static readonly GrpcMethod<NodeRef, SubscriptionList> ListSlots = Method<NodeRef, SubscriptionList>(NodesService, "ListSlots");
    public static readonly GrpcMethod<RemoveSubscriptionsRequest, StatusResponse> RemoveSlots = Method<RemoveSubscriptionsRequest, StatusResponse>(NodesService, "RemoveSlots");
    public static readonly GrpcMethod<AddSubscriptionRequest, StatusResponse> AddService = Method<AddSubscriptionRequest, StatusResponse>(NodesService, "AddService");
    public static readonly GrpcMethod<NodeRef, SubscriptionList> ListServices = Method<NodeRef, SubscriptionList>(NodesService, "ListServices");
    public static readonly GrpcMethod<RemoveSubscriptionsRequest, StatusResponse> RemoveServices = Method<RemoveSubscriptionsRequest, StatusResponse>(NodesService, "RemoveServices");
    public static readonly GrpcMethod<NodeMessage, GatewayMessage> Connect = Method<NodeMessage, GatewayMessage>(NodesService, "Connect");
    public static readonly GrpcMethod<PublishRequest, PublishResponse> Request = Method<PublishRequest, PublishResponse>(MessagingService, "Request");
    public static readonly GrpcMethod<SignalRequest, SignalResponse> Signal = Method<SignalRequest, SignalResponse>(MessagingService, "Signal");
    public static readonly GrpcMethod<CreateAppRequest, AppReply> CreateApp = Method<CreateAppRequest, AppReply>(AppsService, "CreateApp");
    public static readonly GrpcMethod<AppRef, AppReply> GetApp = Method<AppRef, AppReply>(AppsService, "GetApp");
    public static readonly GrpcMethod<AppRef, AppReply> KillApp = Method<AppRef, AppReply>(AppsService, "KillApp");
    public static readonly GrpcMethod<PokeRequest, AppReply> Poke = Method<PokeRequest, AppReply>(AppsService, "Poke");
    public static readonly GrpcMethod<PeekRequest, AppReply> Peek = Method<PeekRequest, AppReply>(AppsService, "Peek");
    public static readonly GrpcMethod<AppRef, AppReply> Wipe = Method<AppRef, AppReply>(AppsService, "Wipe");
    public static readonly GrpcMethod<WatchRequest, WatchEvent> Watch = Method<WatchRequest, WatchEvent>(AppsService, "Watch");
    public static readonly GrpcMethod<LeaveRequest, AppReply> Leave = Method<LeaveRequest, AppReply>(AppsService, "Leave");

    /// <summary>Call options with <c>authorization: Bearer token</c> (none when null) and a deadline.</summary>
    public static CallOptions As(string? token, TimeSpan? deadline = null) => new(
        token is null ? null : new Metadata().Add("authorization", "Bearer " + token),
        DateTimeOffset.UtcNow + (deadline ?? TimeSpan.FromSeconds(30)),
        TestContext.Current.CancellationToken);

    public static async Task<GrpcException> FailsAsync<T>(Task<T> call, StatusCode expected, string containing)
    {
        var error = await Assert.ThrowsAsync<GrpcException>(() => call);
        Assert.True(error.StatusCode == expected, $"expected {expected}, got {error.StatusCode}: {error.Detail}");
        Assert.Contains(containing, error.Detail, StringComparison.Ordinal);
        return error;
    }

    public static Value Json(string json) => Google.Protobuf.JsonParser.Default.Parse<Value>(json);

    private static GrpcMethod<TRequest, TResponse> Method<TRequest, TResponse>(ServiceDescriptor service, string name)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>
        where TResponse : class, Google.Protobuf.IMessage<TResponse>
        => GrpcMethod<TRequest, TResponse>.FromDescriptor(service.FindMethodByName(name));
}

/// <summary>A node served by a Connect stream, driven by a test: answers requests with <see cref="Handler"/> (null: no
/// answer) and records every delivery.</summary>
public sealed class StreamNode : IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<NodeMessage, GatewayMessage> _call;
    private readonly CancellationTokenSource _cancel;
    private readonly Channel<GatewayMessage> _deliveries = Channel.CreateUnbounded<GatewayMessage>();
    private readonly Lock _lock = new();
    private readonly List<GatewayMessage> _seen = [];
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Task? _reader;

    private StreamNode(AsyncDuplexStreamingCall<NodeMessage, GatewayMessage> call, CancellationTokenSource cancel, string name)
    {
        _call = call;
        _cancel = cancel;
        Name = name;
    }

    public string Name { get; }

    public string Id { get; private set; } = "";

    public string Token { get; private set; } = "";

    public string Status { get; private set; } = "";

    /// <summary>Answers a request; by default echoes {node, topic, data}.</summary>
    public Func<Delivery, Reply?> Handler { get; set; } = static _ => null;

    /// <summary>Every request and signal delivered so far.</summary>
    public IReadOnlyList<GatewayMessage> Seen
    {
        get
        {
            lock (_lock)
            {
                return [.. _seen];
            }
        }
    }

    /// <summary>Registers a new node on a Connect stream.</summary>
    public static Task<StreamNode> RegisterAsync(GrpcChannel channel, string name, RegisterNodeRequest register) =>
        StartAsync(channel, name, new NodeMessage { Register = register }, token: null);

    /// <summary>Attaches to an existing node with its token.</summary>
    public static Task<StreamNode> AttachAsync(GrpcChannel channel, string name, string id, string token) =>
        StartAsync(channel, name, new NodeMessage { Attach = new NodeRef { Id = id } }, token);

    private static async Task<StreamNode> StartAsync(GrpcChannel channel, string name, NodeMessage first, string? token)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var headers = token is null ? null : new Metadata().Add("authorization", "Bearer " + token);
        var call = channel.DuplexStreaming(GrpcApi.Connect, new CallOptions(headers, cancellationToken: cancel.Token));
        var node = new StreamNode(call, cancel, name);
        node.Handler = d => new Reply { CorrelationId = d.CorrelationId, Data = GrpcApi.Json($$"""{"node": "{{name}}", "topic": "{{d.Topic}}"}"""), Code = 200 };
        await call.RequestStream.WriteAsync(first);
        var responses = call.ResponseStream.GetAsyncEnumerator(cancel.Token);
        Assert.True(await responses.MoveNextAsync().AsTask().Within($"stream node {name}: the connected message"), $"stream node {name}: the stream ended before 'connected'");
        var connected = responses.Current;
        Assert.Equal(GatewayMessage.KindOneofCase.Connected, connected.KindCase);
        node.Id = connected.Connected.Id;
        node.Token = connected.Connected.Token.Length > 0 ? connected.Connected.Token : token ?? "";
        node.Status = connected.Connected.Status;
        node._reader = node.ReadAsync(responses);
        return node;
    }

    private async Task ReadAsync(IAsyncEnumerator<GatewayMessage> responses)
    {
        try
        {
            while (await responses.MoveNextAsync())
            {
                var message = responses.Current;
                lock (_lock)
                {
                    _seen.Add(message);
                }

                _deliveries.Writer.TryWrite(message);
                if (message.KindCase == GatewayMessage.KindOneofCase.Request && Handler(message.Request) is { } reply)
                {
                    await SendReplyAsync(reply);
                }
            }
        }
        catch (GrpcException e)
        {
            EndedWith = e;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
        finally
        {
            _deliveries.Writer.TryComplete();
            await responses.DisposeAsync();
        }
    }

    /// <summary>The next request or signal delivered.</summary>
    public async Task<GatewayMessage> NextAsync(string phase) =>
        await _deliveries.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within($"stream node {Name}: {phase}");

    /// <summary>The status the gateway ended the stream with, if it ended it with an error.</summary>
    public GrpcException? EndedWith { get; private set; }

    /// <summary>Waits until the stream is over (however it ended).</summary>
    public Task WaitEndedAsync(string phase) => _reader!.Within($"stream node {Name}: {phase}");

    /// <summary>Sends a reply of the test's own making.</summary>
    public async Task SendReplyAsync(Reply reply)
    {
        await _writeLock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            await _call.RequestStream.WriteAsync(new NodeMessage { Reply = reply });
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Ends the stream cleanly (half-close) and waits for the gateway to finish it.</summary>
    public async Task CompleteAsync()
    {
        await _writeLock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            await _call.RequestStream.CompleteAsync();
        }
        finally
        {
            _writeLock.Release();
        }

        if (_reader is not null)
        {
            await _reader.Within($"stream node {Name}: the gateway to end the stream");
        }
    }

    /// <summary>Breaks the stream off (cancel), as a node that dies does.</summary>
    public async Task AbortAsync()
    {
        await _cancel.CancelAsync();
        if (_reader is not null)
        {
            await _reader.Within($"stream node {Name}: the reader to stop");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync();
        if (_reader is not null)
        {
            await _reader;
        }

        _call.Dispose();
        _cancel.Dispose();
    }
}
