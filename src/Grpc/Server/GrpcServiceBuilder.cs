using Google.Protobuf;
using Google.Protobuf.Reflection;
using Trellis.Grpc.Server.Internal;

namespace Trellis.Grpc.Server;

/// <summary>Builds a <see cref="GrpcServiceDefinition"/> by binding handlers to methods.</summary>
public sealed class GrpcServiceBuilder
{
    private readonly List<GrpcServiceMethod> _methods = [];
    private readonly string _serviceName;
    private readonly ServiceDescriptor? _descriptor;

    public GrpcServiceBuilder(string serviceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        _serviceName = serviceName;
    }

    /// <summary>Starts from a descriptor, so methods can be named and the service can be transcoded to JSON.</summary>
    public GrpcServiceBuilder(ServiceDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        _descriptor = descriptor;
        _serviceName = descriptor.FullName;
    }

    public GrpcServiceBuilder AddUnary<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, UnaryHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, GrpcMethodType.Unary, handler);

    public GrpcServiceBuilder AddServerStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, ServerStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, GrpcMethodType.ServerStreaming, handler);

    public GrpcServiceBuilder AddClientStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, ClientStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, GrpcMethodType.ClientStreaming, handler);

    public GrpcServiceBuilder AddDuplexStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, DuplexStreamingHandler<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, GrpcMethodType.DuplexStreaming, handler);

    /// <summary>The method of this service's descriptor with the given name, typed.</summary>
    public GrpcMethod<TRequest, TResponse> Method<TRequest, TResponse>(string name)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var descriptor = _descriptor
            ?? throw new InvalidOperationException($"Service '{_serviceName}' was built without a descriptor; create GrpcMethod instances explicitly.");
        var method = descriptor.FindMethodByName(name)
            ?? throw new ArgumentException($"Service '{_serviceName}' has no method '{name}'.", nameof(name));
        return GrpcMethod<TRequest, TResponse>.FromDescriptor(method);
    }

    public GrpcServiceDefinition Build() => new(_serviceName, _descriptor, _methods.ToArray());

    private GrpcServiceBuilder Add<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, GrpcMethodType expected, Delegate handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (method.ServiceName != _serviceName)
        {
            throw new ArgumentException($"Method {method.FullName} does not belong to service '{_serviceName}'.", nameof(method));
        }

        if (method.Type != expected)
        {
            throw new ArgumentException($"Method {method.FullName} is {method.Type}, so it cannot take a {expected} handler.", nameof(method));
        }

        foreach (var existing in _methods)
        {
            if (existing.Name == method.Name)
            {
                throw new ArgumentException($"Method {method.FullName} already has a handler.", nameof(method));
            }
        }

        var descriptor = method.Descriptor ?? _descriptor?.FindMethodByName(method.Name);
        if (_descriptor is not null && descriptor is null)
        {
            throw new ArgumentException($"Service descriptor '{_serviceName}' has no method '{method.Name}'.", nameof(method));
        }

        _methods.Add(new ServiceMethodBinding<TRequest, TResponse>(method, descriptor, handler));
        return this;
    }
}
