using Microsoft.Extensions.Logging;

namespace Trellis.Grpc.Server.Internal;

/// <summary>Options and logger shared by every call of the services mapped on one route builder.</summary>
internal sealed class ServerRuntime(GrpcServerOptions options, ILogger logger)
{
    public GrpcServerOptions Options { get; } = options;

    public ILogger Logger { get; } = logger;
}
