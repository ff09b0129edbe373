using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Grpc.Core;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Messaging;

namespace Trellis.Api.Edge.Link.Internal;

/// <summary>One device's live link on this gateway: what goes down it (one writer drains <see cref="Outbound"/>),
/// the requests and commands waiting for the device's answers, and why the gateway closed it.</summary>
internal sealed class DeviceLink(string provider, string linkId, string arch, TimeProvider time)
{
    /// <summary>Messages waiting for the writer; a device this far behind gets requests refused (503).</summary>
    public const int MaxQueued = 1024;

    private readonly Channel<LinkMessage> _outbound = Channel.CreateBounded<LinkMessage>(
        new BoundedChannelOptions(MaxQueued) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly ConcurrentDictionary<string, TaskCompletionSource<Message>> _requests = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<CommandResult>> _commands = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _ended = new();
    private long _next;
    private volatile StrongBox<Status>? _closed;

    public string Provider { get; } = provider;

    public string LinkId { get; } = linkId;

    public string Arch { get; } = arch;

    /// <summary>The WAN services the link serves now (changed only by the link's reader).</summary>
    public HashSet<(string Publisher, string Service)> Services { get; } = [];

    /// <summary>When the device grain last heard of this link (heartbeats are forwarded at most every half interval).</summary>
    public long LastSeenReported { get; set; }

    /// <summary>When the device last sent anything (a timestamp of the gateway's <see cref="TimeProvider"/>).</summary>
    public long LastMessage { get; set; }

    public ChannelReader<LinkMessage> Outbound => _outbound.Reader;

    /// <summary>Why the gateway closed the link (revoked, replaced), or null.</summary>
    public Status? ClosedStatus => _closed?.Value;

    /// <summary>Cancelled once the link is closed.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>Queues a message without waiting; false when the link is closed or too far behind.</summary>
    public bool TrySend(LinkMessage message) => _outbound.Writer.TryWrite(message);

    /// <summary>Sends a request for one of the device's services and waits for its reply: 504 past
    /// <paramref name="wait"/>, 503 when the link closes first or is not taking messages.</summary>
    public async Task<Message> RequestAsync(EdgeRequest request, TimeSpan wait, CancellationToken cancellationToken)
    {
        var id = NextId();
        request.CorrelationId = id;
        request.Timeout = wait.TotalSeconds;
        var reply = new TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests[id] = reply;
        using var timeout = new CancellationTokenSource(wait, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            if (_closed is { } closed)
            {
                return Unavailable(closed.Value.Detail);
            }

            await _outbound.Writer.WriteAsync(new LinkMessage { Request = request }, linked.Token).ConfigureAwait(false);
            return await reply.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return Message.Error(Codes.HandlerTimeout, $"device {Provider} did not answer within {wait.TotalMilliseconds:0} ms");
        }
        catch (ChannelClosedException)
        {
            return Unavailable(_closed?.Value.Detail ?? "the link ended");
        }
        finally
        {
            _requests.TryRemove(id, out _);
        }
    }

    /// <summary>Sends a command of the device's local API and waits for its result; null past <paramref name="wait"/>.</summary>
    public async Task<CommandResult?> CommandAsync(DeviceCommand command, TimeSpan wait, CancellationToken cancellationToken)
    {
        var id = NextId();
        command.CorrelationId = id;
        command.Timeout = wait.TotalSeconds;
        var result = new TaskCompletionSource<CommandResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _commands[id] = result;
        using var timeout = new CancellationTokenSource(wait, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            await _outbound.Writer.WriteAsync(new LinkMessage { Command = command }, linked.Token).ConfigureAwait(false);
            return await result.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return null;
        }
        catch (ChannelClosedException)
        {
            return new CommandResult { Status = Codes.Unavailable, Body = Google.Protobuf.WellKnownTypes.Value.ForString($"the link of device {Provider} ended") };
        }
        finally
        {
            _commands.TryRemove(id, out _);
        }
    }

    /// <summary>Hands a device's reply to the request waiting for it; an unknown (or late) correlation id is ignored.</summary>
    public bool Complete(EdgeReply reply)
    {
        if (!_requests.TryRemove(reply.CorrelationId, out var waiting))
        {
            return false;
        }

        var code = reply.Code == 0 ? Codes.Ok : reply.Code;
        if (code is < 100 or > 599)
        {
            waiting.TrySetResult(Message.Error(Codes.HandlerError, $"device {Provider} replied with code {reply.Code}; codes are HTTP statuses (100-599)"));
            return true;
        }

        try
        {
            var data = ProtoJson.ToPayload(reply.Data, "the reply's data");
            waiting.TrySetResult(new Message(data, code is >= 200 and < 300 ? Codes.Ok : Math.Max(code, Codes.ErrorThreshold)));
        }
        catch (Core.Errors.TrellisException e)
        {
            waiting.TrySetResult(Message.Error(Codes.HandlerError, e.Message));
        }

        return true;
    }

    public bool Complete(CommandResult result) =>
        _commands.TryRemove(result.CorrelationId, out var waiting) && waiting.TrySetResult(result);

    /// <summary>Closes the link: the call serving it ends with <paramref name="status"/> (when the gateway closed it),
    /// queued messages are dropped and requests still waiting get 503.</summary>
    public void Close(Status? status, string reason)
    {
        if (status is { } given)
        {
            Interlocked.CompareExchange(ref _closed, new StrongBox<Status>(given), null);
        }

        _outbound.Writer.TryComplete();
        _ended.Cancel();
        while (_outbound.Reader.TryRead(out _))
        {
        }

        foreach (var id in _requests.Keys)
        {
            if (_requests.TryRemove(id, out var waiting))
            {
                waiting.TrySetResult(Unavailable(reason));
            }
        }

        foreach (var id in _commands.Keys)
        {
            if (_commands.TryRemove(id, out var waiting))
            {
                waiting.TrySetResult(new CommandResult { Status = Codes.Unavailable, Body = Google.Protobuf.WellKnownTypes.Value.ForString($"the link of device {Provider} ended before it answered ({reason})") });
            }
        }
    }

    private string NextId() => Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);

    private Message Unavailable(string reason) =>
        Message.Error(Codes.Unavailable, $"device {Provider} is unavailable: its link ended before it replied ({reason})");
}
