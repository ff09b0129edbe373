using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;
using Trellis.Grpc.Internal;

namespace Trellis.Grpc.Server.Internal;

/// <summary>A method bound to its handler; runs one HTTP/2 request as a gRPC call.</summary>
internal sealed class ServiceMethodBinding<TRequest, TResponse> : GrpcServiceMethod
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly GrpcMethod<TRequest, TResponse> _method;
    private readonly UnaryHandler<TRequest, TResponse>? _unary;
    private readonly ServerStreamingHandler<TRequest, TResponse>? _serverStreaming;
    private readonly ClientStreamingHandler<TRequest, TResponse>? _clientStreaming;
    private readonly DuplexStreamingHandler<TRequest, TResponse>? _duplex;

    public ServiceMethodBinding(GrpcMethod<TRequest, TResponse> method, MethodDescriptor? descriptor, Delegate handler)
    {
        _method = method;
        Descriptor = descriptor;
        _unary = handler as UnaryHandler<TRequest, TResponse>;
        _serverStreaming = handler as ServerStreamingHandler<TRequest, TResponse>;
        _clientStreaming = handler as ClientStreamingHandler<TRequest, TResponse>;
        _duplex = handler as DuplexStreamingHandler<TRequest, TResponse>;
    }

    public override string Name => _method.Name;

    public override string FullName => _method.FullName;

    public override GrpcMethodType Type => _method.Type;

    public override MethodDescriptor? Descriptor { get; }

    public override Type RequestType => typeof(TRequest);

    public override Type ResponseType => typeof(TResponse);

    internal override async Task HandleAsync(HttpContext httpContext, ServerRuntime runtime)
    {
        if (!ServerProtocol.TryAccept(httpContext))
        {
            return;
        }

        // Routing matches literals case-insensitively, but gRPC paths are case-sensitive.
        if (!string.Equals(httpContext.Request.Path.Value, _method.FullName, StringComparison.Ordinal))
        {
            ServerProtocol.WriteTrailersOnly(httpContext.Response, new Status(StatusCode.Unimplemented, "Method is unimplemented."));
            return;
        }

        var call = new HttpServerCall(httpContext, runtime, _method.FullName);
        try
        {
            if (!call.TryStart())
            {
                return;
            }

            switch (_method.Type)
            {
                case GrpcMethodType.Unary:
                {
                    var request = await ReadSingleRequestAsync(call).ConfigureAwait(false);
                    var response = await _unary!(request, call).ConfigureAwait(false);
                    await call.CompleteWithMessageAsync(response).ConfigureAwait(false);
                    break;
                }

                case GrpcMethodType.ServerStreaming:
                {
                    var request = await ReadSingleRequestAsync(call).ConfigureAwait(false);
                    await _serverStreaming!(request, new ServerStreamWriter<TResponse>(call), call).ConfigureAwait(false);
                    await call.CompleteAsync(Status.DefaultSuccess, null).ConfigureAwait(false);
                    break;
                }

                case GrpcMethodType.ClientStreaming:
                {
                    var requests = new ServerRequestStream<TRequest>(call, _method.RequestParser);
                    var response = await _clientStreaming!(requests, call).ConfigureAwait(false);
                    await call.CompleteWithMessageAsync(response).ConfigureAwait(false);
                    break;
                }

                default:
                {
                    var requests = new ServerRequestStream<TRequest>(call, _method.RequestParser);
                    await _duplex!(requests, new ServerStreamWriter<TResponse>(call), call).ConfigureAwait(false);
                    await call.CompleteAsync(Status.DefaultSuccess, null).ConfigureAwait(false);
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            await call.CompleteWithExceptionAsync(ex).ConfigureAwait(false);
        }
        finally
        {
            call.Dispose();
        }
    }

    internal override async Task<IMessage> InvokeUnaryAsync(IMessage request, ServerCallContext context)
    {
        var response = await _unary!((TRequest)request, context).ConfigureAwait(false);
        return response ?? throw new InvalidOperationException($"The handler of {_method.FullName} returned no response message.");
    }

    internal override Task InvokeServerStreamingAsync(IMessage request, IServerStreamWriter<IMessage> writer, ServerCallContext context)
        => _serverStreaming!((TRequest)request, writer, context);

    private async ValueTask<TRequest> ReadSingleRequestAsync(HttpServerCall call)
    {
        var request = await call.Reader.ReadAsync(_method.RequestParser, call.CancellationToken).ConfigureAwait(false)
            ?? throw new GrpcException(StatusCode.InvalidArgument, MessageReader.IncompleteMessage);
        await call.Reader.EnsureEndAsync(call.CancellationToken).ConfigureAwait(false);
        return request;
    }
}
