using Google.Protobuf.Reflection;

namespace Trellis.Grpc.Server;

/// <summary>A service as data: its name, its methods with their handlers and, when known, its descriptor.</summary>
public sealed class GrpcServiceDefinition
{
    internal GrpcServiceDefinition(string name, ServiceDescriptor? descriptor, IReadOnlyList<GrpcServiceMethod> methods)
    {
        Name = name;
        Descriptor = descriptor;
        Methods = methods;
    }

    /// <summary>Fully qualified service name, e.g. "grpc.health.v1.Health".</summary>
    public string Name { get; }

    /// <summary>The protobuf service descriptor; JSON transcoding reads google.api.http rules from it.</summary>
    public ServiceDescriptor? Descriptor { get; }

    public IReadOnlyList<GrpcServiceMethod> Methods { get; }

    public GrpcServiceMethod? FindMethod(string name)
    {
        foreach (var method in Methods)
        {
            if (method.Name == name)
            {
                return method;
            }
        }

        return null;
    }
}
