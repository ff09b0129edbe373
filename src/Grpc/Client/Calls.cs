using Google.Protobuf;
using Trellis.Grpc.Client.Internal;

namespace Trellis.Grpc.Client;

/// <summary>Writes request messages of a client- or duplex-streaming call; one write at a time.</summary>
public interface IClientStreamWriter<in T>
{
    /// <summary>Sends one message and flushes it.</summary>
    ValueTask WriteAsync(T message, CancellationToken cancellationToken = default);

    /// <summary>Ends the request stream (the server then sees end of stream).</summary>
    ValueTask CompleteAsync();
}

/// <summary>A unary call in flight: the response, response headers, and status and trailers once finished.</summary>
public sealed class AsyncUnaryCall<TResponse> : IDisposable
    where TResponse : class, IMessage<TResponse>
{
    private readonly IClientCall _call;

    internal AsyncUnaryCall(IClientCall call, Task<TResponse> response)
    {
        _call = call;
        ResponseAsync = response;
    }

    public Task<TResponse> ResponseAsync { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync();

    public System.Runtime.CompilerServices.TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    /// <summary>The status; only once the call has finished.</summary>
    public Status GetStatus() => _call.GetStatus();

    /// <summary>The trailers; only once the call has finished.</summary>
    public Metadata GetTrailers() => _call.GetTrailers();

    /// <summary>Cancels the call if it is still running and releases it.</summary>
    public void Dispose() => _call.Dispose();
}

/// <summary>A server-streaming call in flight.</summary>
public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
    where TResponse : class, IMessage<TResponse>
{
    private readonly IClientCall _call;

    internal AsyncServerStreamingCall(IClientCall call, IAsyncEnumerable<TResponse> responseStream)
    {
        _call = call;
        ResponseStream = responseStream;
    }

    /// <summary>The response messages; enumerable once; throws <see cref="GrpcException"/> for a non-OK status.</summary>
    public IAsyncEnumerable<TResponse> ResponseStream { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync();

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}

/// <summary>A client-streaming call in flight.</summary>
public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly IClientCall _call;

    internal AsyncClientStreamingCall(IClientCall call, IClientStreamWriter<TRequest> requestStream, Task<TResponse> response)
    {
        _call = call;
        RequestStream = requestStream;
        ResponseAsync = response;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public Task<TResponse> ResponseAsync { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync();

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}

/// <summary>A duplex-streaming call in flight.</summary>
public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly IClientCall _call;

    internal AsyncDuplexStreamingCall(IClientCall call, IClientStreamWriter<TRequest> requestStream, IAsyncEnumerable<TResponse> responseStream)
    {
        _call = call;
        RequestStream = requestStream;
        ResponseStream = responseStream;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public IAsyncEnumerable<TResponse> ResponseStream { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync();

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}
