using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>One FBP client connection: reads messages one at a time, answers each (or an <c>error</c>), pushes the
/// events of its watches through the single <see cref="FbpWriter"/>, and stops the watches when the socket closes.</summary>
internal sealed class FbpSession : IAsyncDisposable
{
    private readonly WebSocket _socket;
    private readonly FbpWriter _writer;
    private readonly FbpRuntime _runtime;
    private readonly ILogger _logger;
    private readonly Dictionary<string, (string Key, IAsyncDisposable? Watch)> _outportWatches = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IAsyncDisposable> _edgeWatches = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _graphs = new(StringComparer.Ordinal);
    private int _droppingReported;
    private int _left;

    public FbpSession(WebSocket socket, FbpRuntime runtime, IFlowNetworks? networks, string? remote, ILogger logger)
    {
        _socket = socket;
        _writer = new FbpWriter(socket);
        _runtime = runtime;
        Networks = networks;
        Remote = remote;
        _logger = logger;
        runtime.Hub.Join(this);
    }

    public IFlowNetworks? Networks { get; }

    public FbpRuntime Runtime => _runtime;

    public string? Remote { get; }

    /// <summary>Whether the current message carried the secret (or none is needed).</summary>
    public bool Authorized { get; private set; }

    /// <summary>The graphs whose edges this client watches with <c>network:edges</c>.</summary>
    public Dictionary<string, IAsyncDisposable> EdgeWatches => _edgeWatches;

    /// <summary>The edges each entry of <see cref="EdgeWatches"/> watches.</summary>
    public Dictionary<string, IReadOnlyList<(FlowPortRef Src, FlowPortRef Tgt)>> WatchedEdges { get; } = new(StringComparer.Ordinal);

    /// <summary>The flows facade, or a protocol error when this process has none configured.</summary>
    public IFlowNetworks RequireNetworks() =>
        Networks ?? throw new FbpProtocolException("flows are not available on this process (no IFlowNetworks is configured)");

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pump = _writer.PumpAsync(cts.Token);
        (WebSocketCloseStatus Status, string? Reason)? close = null;
        try
        {
            close = await ReceiveLoopAsync(cts.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // The client went away or the server is stopping.
        }

        // Queued replies (an error about an oversized message among them) go out before the close frame.
        _runtime.Hub.Leave(this);
        _writer.Complete();
        await DisposeWatchesAsync();
        try
        {
            await pump.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            if (close is { } c && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(c.Status, c.Reason, cts.Token);
            }
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }

        await cts.CancelAsync();
    }

    /// <summary>Reads and handles messages until the client closes; returns how to close the socket.</summary>
    private async Task<(WebSocketCloseStatus, string?)?> ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        var limit = _runtime.MaxMessageBytes;
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (_socket.State == WebSocketState.Open)
        {
            buffer.ResetWrittenCount();
            ValueWebSocketReceiveResult result;
            do
            {
                result = await _socket.ReceiveAsync(buffer.GetMemory(4096), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return (WebSocketCloseStatus.NormalClosure, null);
                }

                buffer.Advance(result.Count);
                if (buffer.WrittenCount > limit)
                {
                    // The rest of the message is not read: answer, then close with 1009 (message too big).
                    var text = $"the message is larger than {limit} bytes";
                    await SendErrorAsync(FbpMessage.FallbackProtocol, text, null, cancellationToken);
                    return (WebSocketCloseStatus.MessageTooBig, text);
                }
            }
            while (!result.EndOfMessage);

            if (result.MessageType == WebSocketMessageType.Binary)
            {
                await SendErrorAsync(FbpMessage.FallbackProtocol, "binary frames are not part of the FBP protocol: send each message as a JSON text frame", null, cancellationToken);
                continue;
            }

            await HandleFrameAsync(buffer.WrittenSpan, cancellationToken);
        }

        return null;
    }

    private Task HandleFrameAsync(ReadOnlySpan<byte> frame, CancellationToken cancellationToken)
    {
        var message = FbpMessage.Parse(frame, out var errorProtocol, out var requestId, out var error);
        return message is null
            ? SendErrorAsync(errorProtocol, error!, requestId, cancellationToken).AsTask()
            : HandleAsync(message, cancellationToken);
    }

    private async Task HandleAsync(FbpMessage message, CancellationToken cancellationToken)
    {
        try
        {
            Authorized = _runtime.Auth.Accepts(message.Secret);
            if (!Authorized && !(message.Protocol == "runtime" && message.Command == "getruntime"))
            {
                throw new FbpProtocolException(message.Secret is null
                    ? "this runtime needs a secret: send the configured secret in the message's \"secret\" field"
                    : "the secret is not valid for this runtime");
            }

            await FbpCommands.DispatchAsync(this, message, cancellationToken);
        }
        catch (FbpProtocolException e)
        {
            await SendErrorAsync(message.Protocol, e.Message, message.RequestId, cancellationToken);
        }
        catch (TrellisException e)
        {
            await SendErrorAsync(message.Protocol, e.Message, message.RequestId, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is not (WebSocketException or ObjectDisposedException))
        {
            FbpLog.Failed(_logger, message.Protocol, message.Command, e);
            await SendErrorAsync(message.Protocol, $"{message.Protocol}:{message.Command} failed unexpectedly (see the runtime's log)", message.RequestId, cancellationToken);
        }
    }

    public ValueTask SendErrorAsync(string protocol, string text, string? responseTo, CancellationToken cancellationToken) =>
        SendAsync(protocol, "error", new JsonObject { ["message"] = text }, responseTo, cancellationToken);

    /// <summary>Queues a reply (waiting while the client is behind).</summary>
    public ValueTask SendAsync(string protocol, string command, JsonNode? payload, string? responseTo, CancellationToken cancellationToken) =>
        _writer.SendAsync(FbpMessage.Serialize(protocol, command, payload, responseTo), cancellationToken);

    /// <summary>A reply to <paramref name="request"/>, carrying its requestId as responseTo.</summary>
    public ValueTask ReplyAsync(FbpMessage request, string command, JsonNode? payload, CancellationToken cancellationToken) =>
        SendAsync(request.Protocol, command, payload, request.RequestId, cancellationToken);

    /// <summary>Pushes an event the client did not ask for just now; dropped (and logged once) when it is too far behind.</summary>
    public ValueTask PushAsync(string protocol, string command, JsonNode? payload)
    {
        PushFrame(FbpMessage.Serialize(protocol, command, payload, null), protocol, command);
        return ValueTask.CompletedTask;
    }

    /// <summary>Pushes a serialized event; dropped (and logged once) when the client is too far behind.</summary>
    public void PushFrame(byte[] frame, string protocol, string command)
    {
        if (!_writer.TryPush(frame)
            && !_writer.IsCompleted
            && Interlocked.Exchange(ref _droppingReported, 1) == 0)
        {
            FbpLog.Dropping(_logger, Remote, protocol, command);
        }
    }

    /// <summary>From now on this client hears of the edits other clients make to <paramref name="graph"/> (it edited it,
    /// sent it packets, ran it, or asked for the runtime's main graph).</summary>
    public void Watch(string graph) => _graphs.TryAdd(graph, 0);

    /// <summary>Whether this client hears of edits to <paramref name="graph"/>.</summary>
    public bool Watches(string graph) => _graphs.ContainsKey(graph);

    /// <summary>A reply to <paramref name="request"/> that also goes, without responseTo, to the other clients watching
    /// <paramref name="graph"/> (a graph edit that succeeded, or the ports it changed).</summary>
    public async ValueTask ReplyAndShareAsync(FbpMessage request, string graph, string protocol, string command, JsonNode? payload, CancellationToken cancellationToken)
    {
        await SendAsync(protocol, command, payload, protocol == request.Protocol ? request.RequestId : null, cancellationToken);
        _runtime.Hub.Broadcast(this, graph, protocol, command, payload);
    }

    /// <summary>Reports the graph's exported outports as runtime:packet while the client is connected. The watch is
    /// (re)made when the graph's outports changed since the last one or it could not be made then (a participant not
    /// discovered yet); a failure leaves the command that asked for it unaffected.</summary>
    public async Task WatchOutportsAsync(string graph, CancellationToken cancellationToken)
    {
        if (Networks is null)
        {
            return;
        }

        Watch(graph);
        var definition = await Networks.GetGraphAsync(graph, cancellationToken);
        var key = string.Join('\n', definition.Outports.Select(static p => $"{p.Key}={p.Value.Process}.{p.Value.Port}"));
        if (_outportWatches.TryGetValue(graph, out var current))
        {
            if (current.Key == key && current.Watch is not null)
            {
                return;
            }

            _outportWatches.Remove(graph);
            await DisposeQuietlyAsync(graph, current.Watch);
        }

        IAsyncDisposable? watch = null;
        if (definition.Outports.Count > 0)
        {
            try
            {
                watch = await Networks.WatchOutportsAsync(graph, (packet, _) => PushAsync("runtime", "packet", new JsonObject
                {
                    ["port"] = packet.ExportedPort,
                    ["event"] = "data",
                    ["graph"] = packet.Graph,
                    ["payload"] = packet.Data?.DeepClone(),
                }), cancellationToken);
            }
            catch (TrellisException)
            {
                // Not wired yet: tried again on the next command that needs it.
            }
        }

        _outportWatches[graph] = (key, watch ?? (definition.Outports.Count == 0 ? NoWatch.Instance : null));
    }

    /// <summary>Re-checks the outport watch of a graph this client already watches (after an edit of its ports).</summary>
    public Task RefreshOutportsAsync(string graph, CancellationToken cancellationToken) =>
        _outportWatches.ContainsKey(graph) ? WatchOutportsAsync(graph, cancellationToken) : Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _left, 1) == 0)
        {
            _runtime.Hub.Leave(this);
        }

        _writer.Complete();
        await DisposeWatchesAsync();
    }

    private async Task DisposeWatchesAsync()
    {
        foreach (var (graph, (_, watch)) in _outportWatches)
        {
            await DisposeQuietlyAsync(graph, watch);
        }

        foreach (var (graph, watch) in _edgeWatches)
        {
            await DisposeQuietlyAsync(graph, watch);
        }

        _outportWatches.Clear();
        _edgeWatches.Clear();
        WatchedEdges.Clear();
    }

    private async Task DisposeQuietlyAsync(string graph, IAsyncDisposable? watch)
    {
        if (watch is null)
        {
            return;
        }

        try
        {
            await watch.DisposeAsync();
        }
        catch (Exception e)
        {
            FbpLog.WatchCleanupFailed(_logger, graph, e);
        }
    }

    /// <summary>A graph with no outports: nothing to watch, nothing to retry.</summary>
    private sealed class NoWatch : IAsyncDisposable
    {
        public static readonly NoWatch Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
