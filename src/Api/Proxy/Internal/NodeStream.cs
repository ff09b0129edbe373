using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Diagnostics;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;

namespace Trellis.Api.Proxy.Internal;

/// <summary>The gateway's side of a node's Connect stream: deliveries go out as <see cref="GatewayMessage"/>s, replies
/// come back with the delivery's correlation id.</summary>
/// <remarks>One writer loop drains <see cref="Outbound"/> (a gRPC stream takes one write at a time); a request waits for
/// its reply at most its subscription's timeout and then answers 504, as an HTTP node's call does, and a late reply is
/// dropped.</remarks>
internal sealed class NodeStream(string peer, TimeProvider time, int maxReplyBytes)
{
    /// <summary>Deliveries waiting for the writer; a node that reads this far behind gets its calls refused rather than
    /// the gateway's memory.</summary>
    public const int MaxQueued = 1024;

    private readonly Channel<GatewayMessage> _outbound = Channel.CreateBounded<GatewayMessage>(
        new BoundedChannelOptions(MaxQueued) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly ConcurrentDictionary<string, TaskCompletionSource<Message>> _pending = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _ended = new();
    private long _next;
    private volatile string? _closedReason;

    /// <summary>The caller's address, for logs.</summary>
    public string Peer { get; } = peer;

    public ChannelReader<GatewayMessage> Outbound => _outbound.Reader;

    public bool IsClosed => _closedReason is not null;

    /// <summary>Why the gateway ended the stream (the node was deleted), or null.</summary>
    public string? ClosedReason => _closedReason;

    /// <summary>Cancelled once the stream is closed, so the call serving it ends too.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>Sends a request to the node and waits for its reply; refused (never delivered) when the stream is closed.</summary>
    public async Task<CallResult> RequestAsync(NodeRecord node, NodeSubscription subscription, string topic, string sender, JsonPayload data, NodeTrace trace, CancellationToken stopping)
    {
        var id = Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);
        var reply = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        using var timeout = new CancellationTokenSource(subscription.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stopping);
        try
        {
            if (_closedReason is { } reason)
            {
                return Refused(node, reason);
            }

            var delivery = new Delivery
            {
                CorrelationId = id, Topic = topic, Sender = sender, Data = ProtoJson.ToValue(data), Timeout = subscription.Timeout.TotalSeconds,
                Traceparent = trace.Parent ?? "",
            };
            await _outbound.Writer.WriteAsync(new GatewayMessage { Request = delivery }, linked.Token).ConfigureAwait(false);
            return new CallResult(await reply.Task.WaitAsync(linked.Token).ConfigureAwait(false), false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new CallResult(Message.Error(Codes.HandlerTimeout, $"Execution timed out after {subscription.Timeout.TotalMilliseconds:0} ms"), false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return CallResult.GatewayStopping(node);
        }
        catch (ChannelClosedException)
        {
            return Refused(node, _closedReason ?? "the stream ended");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Sends a signal; there is no reply. Refused when the stream is closed.</summary>
    public async Task<CallResult> SignalAsync(NodeRecord node, NodeSubscription subscription, string topic, string sender, JsonPayload data, NodeTrace trace, CancellationToken stopping)
    {
        using var timeout = new CancellationTokenSource(subscription.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stopping);
        try
        {
            var delivery = new Delivery
            {
                Topic = topic, Sender = sender, Data = ProtoJson.ToValue(data), Timeout = subscription.Timeout.TotalSeconds,
                Traceparent = trace.Parent ?? "",
            };
            await _outbound.Writer.WriteAsync(new GatewayMessage { Signal = delivery }, linked.Token).ConfigureAwait(false);
            return new CallResult(Message.Ok(JsonPayload.Null), false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new CallResult(Message.Error(Codes.HandlerTimeout, $"node {node.Id} did not take the signal within {subscription.Timeout.TotalMilliseconds:0} ms (its stream is {MaxQueued} deliveries behind)"), false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return CallResult.GatewayStopping(node);
        }
        catch (ChannelClosedException)
        {
            return Refused(node, _closedReason ?? "the stream ended");
        }
    }

    /// <summary>Hands a reply to the request waiting for it; false when nothing waits (unknown id, or past its timeout).</summary>
    public bool Complete(Reply reply)
    {
        if (!_pending.TryRemove(reply.CorrelationId, out var waiting))
        {
            return false;
        }

        var code = reply.Code == 0 ? Codes.Ok : reply.Code;
        if (code is < 100 or > 599)
        {
            waiting.TrySetResult(Message.Error(Codes.HandlerError, $"the node replied with code {reply.Code}; codes are HTTP statuses (100-599)"));
            return true;
        }

        JsonPayload data;
        try
        {
            data = ProtoJson.ToPayload(reply.Data, "the reply's data");
        }
        catch (Core.Errors.TrellisException e)
        {
            waiting.TrySetResult(Message.Error(Codes.HandlerError, e.Message));
            return true;
        }

        waiting.TrySetResult(data.Length > maxReplyBytes
            ? Message.Error(Codes.HandlerError, $"the node's reply is larger than the limit of {maxReplyBytes} bytes (Trellis:Nodes:MaxReplyBytes)")
            : new Message(data, code is >= 200 and < 300 ? Codes.Ok : Math.Max(code, Codes.ErrorThreshold)));
        return true;
    }

    /// <summary>Ends the stream: queued deliveries are dropped and requests still waiting get a 503 naming <paramref name="reason"/>.</summary>
    public void Close(string nodeId, string reason)
    {
        _closedReason ??= reason;
        _outbound.Writer.TryComplete();
        _ended.Cancel();
        while (_outbound.Reader.TryRead(out _))
        {
        }

        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var waiting))
            {
                waiting.TrySetResult(Message.Error(Codes.Unavailable, $"node {nodeId} is unavailable: its stream ended before it replied ({reason})"));
            }
        }
    }

    private static CallResult Refused(NodeRecord node, string reason) =>
        new(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: it is not connected ({reason})"), true);
}
