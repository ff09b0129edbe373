using Microsoft.AspNetCore.Http;
using Trellis.Grpc.Internal;
using Trellis.Grpc.Server;
using Trellis.Grpc.Server.Internal;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>The call context a handler sees when it is reached through JSON over HTTP/1.1 instead of gRPC.</summary>
internal sealed class TranscodingCallContext(HttpContext httpContext, string method) : ServerCallContext
{
    private Metadata? _requestHeaders;
    private bool _headersApplied;

    public override string Method => method;

    public override string Peer => ServerProtocol.FormatPeer(httpContext);

    public override DateTimeOffset? Deadline => null;

    public override CancellationToken CancellationToken => httpContext.RequestAborted;

    public override Metadata RequestHeaders => _requestHeaders ??= MetadataHeaders.FromHeaders(httpContext.Request.Headers);

    public override HttpContext HttpContext => httpContext;

    public override async ValueTask WriteResponseHeadersAsync()
    {
        ApplyResponseHeaders();
        await httpContext.Response.StartAsync(httpContext.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Copies handler response headers (and, where HTTP/1.1 cannot carry trailers, trailers) into the response headers.</summary>
    public void ApplyResponseHeaders()
    {
        if (_headersApplied || httpContext.Response.HasStarted)
        {
            return;
        }

        _headersApplied = true;
        if (ResponseHeadersOrNull is { } headers)
        {
            MetadataHeaders.WriteTo(headers, httpContext.Response.Headers);
        }
    }

    public void ApplyTrailers(bool beforeStart)
    {
        if (ResponseTrailersOrNull is not { Count: > 0 } trailers)
        {
            return;
        }

        if (beforeStart && !httpContext.Response.HasStarted)
        {
            MetadataHeaders.WriteTo(trailers, httpContext.Response.Headers);
        }
        else if (httpContext.Response.SupportsTrailers())
        {
            foreach (var entry in trailers)
            {
                httpContext.Response.AppendTrailer(entry.Key, entry.IsBinary ? MetadataHeaders.ToBase64(entry.ValueBytes!) : entry.Value!);
            }
        }
    }
}
