using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Trellis.Grpc.Server;

/// <summary>Kestrel listener set-up for gRPC without TLS.</summary>
public static class GrpcKestrelExtensions
{
    /// <summary>
    /// Listens with HTTP/2 only: h2c works only with prior knowledge, and an Http1AndHttp2 listener without TLS
    /// would serve HTTP/1.1 alone. REST and browsers need a separate HTTP/1 listener.
    /// </summary>
    public static KestrelServerOptions ListenGrpc(this KestrelServerOptions options, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Listen(endPoint, static listen => listen.Protocols = HttpProtocols.Http2);
        return options;
    }
}
