using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Trellis.Grpc;

/// <summary>The four shapes of a gRPC method.</summary>
public enum GrpcMethodType
{
    Unary,
    ServerStreaming,
    ClientStreaming,
    DuplexStreaming,
}

/// <summary>A gRPC method as data: its path and the parsers of its messages, shared by servers and clients.</summary>
public sealed class GrpcMethod<TRequest, TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public GrpcMethod(
        GrpcMethodType type,
        string serviceName,
        string name,
        MessageParser<TRequest> requestParser,
        MessageParser<TResponse> responseParser)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (serviceName.Contains('/') || name.Contains('/'))
        {
            throw new ArgumentException($"Service '{serviceName}' and method '{name}' must not contain '/'.");
        }

        Type = type;
        ServiceName = serviceName;
        Name = name;
        FullName = "/" + serviceName + "/" + name;
        RequestParser = requestParser ?? throw new ArgumentNullException(nameof(requestParser));
        ResponseParser = responseParser ?? throw new ArgumentNullException(nameof(responseParser));
    }

    public GrpcMethodType Type { get; }

    /// <summary>Fully qualified service name, e.g. "grpc.health.v1.Health".</summary>
    public string ServiceName { get; }

    public string Name { get; }

    /// <summary>The HTTP/2 path, "/{package.Service}/{Method}".</summary>
    public string FullName { get; }

    public MessageParser<TRequest> RequestParser { get; }

    public MessageParser<TResponse> ResponseParser { get; }

    /// <summary>The protobuf descriptor when the method was built from one (needed for JSON transcoding).</summary>
    public MethodDescriptor? Descriptor { get; private init; }

    /// <summary>Builds the method from its descriptor, checking that the CLR message types match it.</summary>
    public static GrpcMethod<TRequest, TResponse> FromDescriptor(MethodDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (descriptor.InputType.ClrType != typeof(TRequest) || descriptor.OutputType.ClrType != typeof(TResponse))
        {
            throw new ArgumentException(
                $"Method {descriptor.FullName} takes {descriptor.InputType.ClrType?.Name} and returns {descriptor.OutputType.ClrType?.Name}, " +
                $"not {typeof(TRequest).Name} and {typeof(TResponse).Name}.",
                nameof(descriptor));
        }

        var type = (descriptor.IsClientStreaming, descriptor.IsServerStreaming) switch
        {
            (false, false) => GrpcMethodType.Unary,
            (false, true) => GrpcMethodType.ServerStreaming,
            (true, false) => GrpcMethodType.ClientStreaming,
            (true, true) => GrpcMethodType.DuplexStreaming,
        };

        return new GrpcMethod<TRequest, TResponse>(
            type,
            descriptor.Service.FullName,
            descriptor.Name,
            (MessageParser<TRequest>)descriptor.InputType.Parser,
            (MessageParser<TResponse>)descriptor.OutputType.Parser)
        {
            Descriptor = descriptor,
        };
    }

    public override string ToString() => FullName;
}
