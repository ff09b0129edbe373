using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;
using Trellis.Grpc.Server.Internal;

namespace Trellis.Grpc.Server;

/// <summary>One method of a <see cref="GrpcServiceDefinition"/>: the method and the handler bound to it.</summary>
public abstract class GrpcServiceMethod
{
    private protected GrpcServiceMethod()
    {
    }

    public abstract string Name { get; }

    /// <summary>The HTTP/2 path, "/{package.Service}/{Method}".</summary>
    public abstract string FullName { get; }

    public abstract GrpcMethodType Type { get; }

    public abstract MethodDescriptor? Descriptor { get; }

    public abstract Type RequestType { get; }

    public abstract Type ResponseType { get; }

    internal abstract Task HandleAsync(HttpContext httpContext, ServerRuntime runtime);

    internal abstract Task<IMessage> InvokeUnaryAsync(IMessage request, ServerCallContext context);

    internal abstract Task InvokeServerStreamingAsync(IMessage request, IServerStreamWriter<IMessage> writer, ServerCallContext context);
}
