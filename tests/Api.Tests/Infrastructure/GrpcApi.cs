using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Trellis.Contracts.V1;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Infrastructure;

/// <summary>The methods of trellis.v1.Nodes, trellis.v1.Messaging, trellis.v1.Apps and grpc.health.v1 for a grpc-dotnet
/// <see cref="GrpcChannel"/>, named as the tests call them.</summary>
public static class GrpcApi
{
    public static readonly Method<RegisterNodeRequest, RegisterNodeResponse> RegisterNode = Unary<RegisterNodeRequest, RegisterNodeResponse>("trellis.v1.Nodes", "RegisterNode");
    public static readonly Method<NodeRef, Node> GetNode = Unary<NodeRef, Node>("trellis.v1.Nodes", "GetNode");
    public static readonly Method<NodeRef, StatusResponse> DeleteNode = Unary<NodeRef, StatusResponse>("trellis.v1.Nodes", "DeleteNode");
    public static readonly Method<AddSubscriptionRequest, StatusResponse> AddSlot = Unary<AddSubscriptionRequest, StatusResponse>("trellis.v1.Nodes", "AddSlot");
    public static readonly Method<NodeRef, SubscriptionList> ListSlots = Unary<NodeRef, SubscriptionList>("trellis.v1.Nodes", "ListSlots");
    public static readonly Method<RemoveSubscriptionsRequest, StatusResponse> RemoveSlots = Unary<RemoveSubscriptionsRequest, StatusResponse>("trellis.v1.Nodes", "RemoveSlots");
    public static readonly Method<AddSubscriptionRequest, StatusResponse> AddService = Unary<AddSubscriptionRequest, StatusResponse>("trellis.v1.Nodes", "AddService");
    public static readonly Method<NodeRef, SubscriptionList> ListServices = Unary<NodeRef, SubscriptionList>("trellis.v1.Nodes", "ListServices");
    public static readonly Method<RemoveSubscriptionsRequest, StatusResponse> RemoveServices = Unary<RemoveSubscriptionsRequest, StatusResponse>("trellis.v1.Nodes", "RemoveServices");
    public static readonly Method<NodeMessage, GatewayMessage> Connect = Create<NodeMessage, GatewayMessage>(MethodType.DuplexStreaming, "trellis.v1.Nodes", "Connect");
    public static readonly Method<PublishRequest, PublishResponse> Request = Unary<PublishRequest, PublishResponse>("trellis.v1.Messaging", "Request");
    public static readonly Method<SignalRequest, SignalResponse> Signal = Unary<SignalRequest, SignalResponse>("trellis.v1.Messaging", "Signal");
    public static readonly Method<CreateAppRequest, AppReply> CreateApp = Unary<CreateAppRequest, AppReply>("trellis.v1.Apps", "CreateApp");
    public static readonly Method<AppRef, AppReply> GetApp = Unary<AppRef, AppReply>("trellis.v1.Apps", "GetApp");
    public static readonly Method<AppRef, AppReply> KillApp = Unary<AppRef, AppReply>("trellis.v1.Apps", "KillApp");
    public static readonly Method<PokeRequest, AppReply> Poke = Unary<PokeRequest, AppReply>("trellis.v1.Apps", "Poke");
    public static readonly Method<PeekRequest, AppReply> Peek = Unary<PeekRequest, AppReply>("trellis.v1.Apps", "Peek");
    public static readonly Method<AppRef, AppReply> Wipe = Unary<AppRef, AppReply>("trellis.v1.Apps", "Wipe");
    public static readonly Method<WatchRequest, WatchEvent> Watch = Create<WatchRequest, WatchEvent>(MethodType.ServerStreaming, "trellis.v1.Apps", "Watch");
    public static readonly Method<LeaveRequest, AppReply> Leave = Unary<LeaveRequest, AppReply>("trellis.v1.Apps", "Leave");
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> HealthCheck = Unary<HealthCheckRequest, HealthCheckResponse>("grpc.health.v1.Health", "Check");

    /// <summary>Call options with <c>authorization: Bearer token</c> (none when null) and a deadline.</summary>
    public static CallOptions As(string? token, TimeSpan? deadline = null) => new(
        token is null ? null : new Metadata { { "authorization", "Bearer " + token } },
        DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(30)),
        TestContext.Current.CancellationToken);

    public static async Task<RpcException> FailsAsync<T>(Task<T> call, StatusCode expected, string containing)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.True(error.StatusCode == expected, $"expected {expected}, got {error.StatusCode}: {error.Status.Detail}");
        Assert.Contains(containing, error.Status.Detail, StringComparison.Ordinal);
        return error;
    }

    public static Value Json(string json) => Google.Protobuf.JsonParser.Default.Parse<Value>(json);

    public static Task<TResponse> UnaryAsync<TRequest, TResponse>(this GrpcChannel channel, Method<TRequest, TResponse> method, TRequest request, CallOptions options)
        where TRequest : class
        where TResponse : class =>
        channel.CreateCallInvoker().AsyncUnaryCall(method, null, options, request).ResponseAsync;

    public static AsyncUnaryCall<TResponse> Unary<TRequest, TResponse>(this GrpcChannel channel, Method<TRequest, TResponse> method, TRequest request, CallOptions options)
        where TRequest : class
        where TResponse : class =>
        channel.CreateCallInvoker().AsyncUnaryCall(method, null, options, request);

    public static AsyncServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(this GrpcChannel channel, Method<TRequest, TResponse> method, TRequest request, CallOptions options)
        where TRequest : class
        where TResponse : class =>
        channel.CreateCallInvoker().AsyncServerStreamingCall(method, null, options, request);

    public static AsyncDuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(this GrpcChannel channel, Method<TRequest, TResponse> method, CallOptions options)
        where TRequest : class
        where TResponse : class =>
        channel.CreateCallInvoker().AsyncDuplexStreamingCall(method, null, options);

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string service, string name)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        Create<TRequest, TResponse>(MethodType.Unary, service, name);

    private static Method<TRequest, TResponse> Create<TRequest, TResponse>(MethodType type, string service, string name)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        new(type, service, name, Marshaller<TRequest>(), Marshaller<TResponse>());

    private static Marshaller<T> Marshaller<T>()
        where T : class, IMessage<T>, new()
    {
        var parser = new MessageParser<T>(static () => new T());
        return Marshallers.Create(static m => m.ToByteArray(), parser.ParseFrom);
    }
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
        var headers = token is null ? null : new Metadata { { "authorization", "Bearer " + token } };
        var call = channel.DuplexStreaming(GrpcApi.Connect, new CallOptions(headers, cancellationToken: cancel.Token));
        var node = new StreamNode(call, cancel, name);
        node.Handler = d => new Reply { CorrelationId = d.CorrelationId, Data = GrpcApi.Json($$"""{"node": "{{name}}", "topic": "{{d.Topic}}"}"""), Code = 200 };
        await call.RequestStream.WriteAsync(first);
        var responses = call.ResponseStream.ReadAllAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);
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
        catch (RpcException e)
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
    public RpcException? EndedWith { get; private set; }

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
