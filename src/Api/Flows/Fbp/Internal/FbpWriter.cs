using System.Net.WebSockets;
using System.Threading.Channels;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>The one writer of a connection's WebSocket: replies and pushed events (runtime:packet, network:data) come
/// from different tasks, and a WebSocket takes one send at a time, so every frame goes through this channel.</summary>
internal sealed class FbpWriter
{
    /// <summary>Frames waiting for a slow client before pushed events are dropped (replies wait instead).</summary>
    public const int Capacity = 1024;

    private readonly Channel<byte[]> _frames = Channel.CreateBounded<byte[]>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly WebSocket _socket;

    public FbpWriter(WebSocket socket) => _socket = socket;

    /// <summary>Queues a reply, waiting while the queue is full.</summary>
    public ValueTask SendAsync(byte[] frame, CancellationToken cancellationToken) => _frames.Writer.WriteAsync(frame, cancellationToken);

    /// <summary>Queues a pushed event; false when the client is too slow and it was dropped.</summary>
    public bool TryPush(byte[] frame) => _frames.Writer.TryWrite(frame);

    /// <summary>True once <see cref="Complete"/> was called: the session is closing.</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>No more frames: the pump ends once the queued ones are sent.</summary>
    public void Complete()
    {
        IsCompleted = true;
        _frames.Writer.TryComplete();
    }

    /// <summary>Sends the queued frames in order until <see cref="Complete"/> or the socket fails.</summary>
    public async Task PumpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var frame in _frames.Reader.ReadAllAsync(cancellationToken))
            {
                if (_socket.State != WebSocketState.Open)
                {
                    break;
                }

                await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // The connection is gone; the session's receive loop ends on its own.
        }
        finally
        {
            _frames.Writer.TryComplete();
        }
    }
}
