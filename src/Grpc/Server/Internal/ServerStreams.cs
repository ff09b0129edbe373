using Google.Protobuf;

namespace Trellis.Grpc.Server.Internal;

internal sealed class ServerStreamWriter<T>(HttpServerCall call) : IServerStreamWriter<T>
    where T : class, IMessage<T>
{
    public ValueTask WriteAsync(T message, CancellationToken cancellationToken = default) => call.WriteMessageAsync(message, cancellationToken);
}

/// <summary>The request messages of a streaming call, read from the HTTP/2 request body as they arrive.</summary>
internal sealed class ServerRequestStream<T>(HttpServerCall call, MessageParser<T> parser) : IAsyncEnumerable<T>, IAsyncEnumerator<T>
    where T : class, IMessage<T>
{
    private bool _started;
    private T? _current;
    private CancellationToken _token;
    private CancellationTokenSource? _linked;

    public T Current => _current ?? throw new InvalidOperationException("There is no current message; call MoveNextAsync first.");

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (_started)
        {
            throw new InvalidOperationException("The request stream can be enumerated only once.");
        }

        _started = true;
        if (cancellationToken.CanBeCanceled)
        {
            _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, call.CancellationToken);
            _token = _linked.Token;
        }
        else
        {
            _token = call.CancellationToken;
        }

        return this;
    }

    public async ValueTask<bool> MoveNextAsync()
    {
        _current = await call.Reader.ReadAsync(parser, _token).ConfigureAwait(false);
        return _current is not null;
    }

    public ValueTask DisposeAsync()
    {
        _linked?.Dispose();
        return default;
    }
}
