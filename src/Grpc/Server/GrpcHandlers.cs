namespace Trellis.Grpc.Server;

/// <summary>Writes response messages of a streaming call; one write at a time.</summary>
public interface IServerStreamWriter<in T>
{
    /// <summary>Sends one message and flushes it to the client.</summary>
    ValueTask WriteAsync(T message, CancellationToken cancellationToken = default);
}

/// <summary>Handles a call with one request and one response.</summary>
public delegate Task<TResponse> UnaryHandler<TRequest, TResponse>(TRequest request, ServerCallContext context);

/// <summary>Handles a call with one request and a stream of responses.</summary>
public delegate Task ServerStreamingHandler<TRequest, TResponse>(
    TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);

/// <summary>Handles a call with a stream of requests (enumerable once) and one response.</summary>
public delegate Task<TResponse> ClientStreamingHandler<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requestStream, ServerCallContext context);

/// <summary>Handles a call with streams both ways.</summary>
public delegate Task DuplexStreamingHandler<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);
