using Microsoft.AspNetCore.Http;

namespace Trellis.Grpc.Server;

/// <summary>What a handler knows about its call: metadata, deadline, cancellation, and the response headers and trailers it may set.</summary>
public abstract class ServerCallContext
{
    private Metadata? _responseHeaders;
    private Metadata? _responseTrailers;

    /// <summary>The method path, "/{package.Service}/{Method}".</summary>
    public abstract string Method { get; }

    /// <summary>The caller's address, "ipv4:127.0.0.1:50000" or "ipv6:[::1]:50000".</summary>
    public abstract string Peer { get; }

    /// <summary>When the call expires (from grpc-timeout); null when the client set no deadline.</summary>
    public abstract DateTimeOffset? Deadline { get; }

    /// <summary>Cancelled when the client cancels or the deadline passes.</summary>
    public abstract CancellationToken CancellationToken { get; }

    /// <summary>The client's custom metadata (protocol headers such as content-type and grpc-timeout left out).</summary>
    public abstract Metadata RequestHeaders { get; }

    /// <summary>Headers sent before the first response message; changes after they were sent are ignored.</summary>
    public Metadata ResponseHeaders => _responseHeaders ??= new Metadata();

    /// <summary>Trailers sent with the status at the end of the call.</summary>
    public Metadata ResponseTrailers => _responseTrailers ??= new Metadata();

    /// <summary>The underlying ASP.NET Core request.</summary>
    public abstract HttpContext HttpContext { get; }

    /// <summary>Sends the response headers now instead of with the first message.</summary>
    public abstract ValueTask WriteResponseHeadersAsync();

    internal Metadata? ResponseHeadersOrNull => _responseHeaders;

    internal Metadata? ResponseTrailersOrNull => _responseTrailers;
}
