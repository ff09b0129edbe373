using System.Collections.Concurrent;
using Google.Protobuf;
using Trellis.Grpc.Client.Internal;
using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Client;

/// <summary>A gRPC client over HttpClient's HTTP/2 (h2c with prior knowledge for http:// addresses); thread-safe, share one per server.</summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);
    private readonly string _base;

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        if (options.RequestCompression is not null && !GrpcCompression.IsSupported(options.RequestCompression))
        {
            throw new ArgumentException(
                $"RequestCompression '{options.RequestCompression}' is not supported; use '{GrpcCompression.Gzip}', '{GrpcCompression.Identity}' or null.",
                nameof(options));
        }

        Address = address;
        Options = options;
        _base = address.GetLeftPart(UriPartial.Path).TrimEnd('/');
        var handler = options.HttpHandler ?? new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: options.HttpHandler is null || options.DisposeHttpHandler);
    }

    public Uri Address { get; }

    internal GrpcChannelOptions Options { get; }

    internal HttpMessageInvoker Invoker { get; }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null) => ForAddress(new Uri(address), options);

    public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"Address '{address}' must be an absolute http:// or https:// URI.", nameof(address));
        }

        return new GrpcChannel(address, options ?? new GrpcChannelOptions());
    }

    /// <summary>Calls a unary method and returns its response; throws <see cref="GrpcException"/> for a non-OK status.</summary>
    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        using var call = Unary(method, request, options);
        return await call.ResponseAsync.ConfigureAwait(false);
    }

    /// <summary>Starts a unary call, giving access to headers, status and trailers too.</summary>
    public AsyncUnaryCall<TResponse> Unary<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new ClientCall<TRequest, TResponse>(this, Check(method, GrpcMethodType.Unary), options);
        call.StartWithMessage(request);
        return new AsyncUnaryCall<TResponse>(call, call.ReadSingleResponseAsync());
    }

    public AsyncServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        var call = new ClientCall<TRequest, TResponse>(this, Check(method, GrpcMethodType.ServerStreaming), options);
        call.StartWithMessage(request);
        return new AsyncServerStreamingCall<TResponse>(call, new ClientResponseStream<TRequest, TResponse>(call));
    }

    public AsyncClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var call = new ClientCall<TRequest, TResponse>(this, Check(method, GrpcMethodType.ClientStreaming), options);
        var writer = call.StartStreaming();
        return new AsyncClientStreamingCall<TRequest, TResponse>(call, writer, call.ReadSingleResponseAsync());
    }

    public AsyncDuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var call = new ClientCall<TRequest, TResponse>(this, Check(method, GrpcMethodType.DuplexStreaming), options);
        var writer = call.StartStreaming();
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call, writer, new ClientResponseStream<TRequest, TResponse>(call));
    }

    public void Dispose() => Invoker.Dispose();

    internal Uri GetUri(string fullName) => _uris.GetOrAdd(fullName, static (name, self) => new Uri(self._base + name), this);

    private static GrpcMethod<TRequest, TResponse> Check<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, GrpcMethodType expected)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Type != expected)
        {
            throw new ArgumentException($"Method {method.FullName} is {method.Type}, not {expected}.", nameof(method));
        }

        return method;
    }
}
