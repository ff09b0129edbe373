using Google.Protobuf;

namespace Trellis.Grpc.Client.Internal;

/// <summary>The response messages of a streaming call, as an async enumerable that may be enumerated once.</summary>
internal sealed class ClientResponseStream<TRequest, TResponse>(ClientCall<TRequest, TResponse> call) : IAsyncEnumerable<TResponse>, IAsyncEnumerator<TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private bool _started;
    private TResponse? _current;
    private CancellationTokenRegistration _registration;

    public TResponse Current => _current ?? throw new InvalidOperationException("There is no current message; call MoveNextAsync first.");

    public IAsyncEnumerator<TResponse> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (_started)
        {
            throw new InvalidOperationException("The response stream can be enumerated only once.");
        }

        _started = true;
        if (cancellationToken.CanBeCanceled)
        {
            // Giving up on reading gives up on the call, as in every gRPC client.
            _registration = cancellationToken.UnsafeRegister(static state => ((IClientCall)state!).Cancel(), call);
        }

        return this;
    }

    public async ValueTask<bool> MoveNextAsync()
    {
        _current = await call.ReadNextAsync().ConfigureAwait(false);
        return _current is not null;
    }

    public ValueTask DisposeAsync()
    {
        _registration.Dispose();
        return default;
    }
}
