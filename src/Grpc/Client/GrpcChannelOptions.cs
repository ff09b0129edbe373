using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Client;

/// <summary>Settings of a <see cref="GrpcChannel"/>.</summary>
public sealed class GrpcChannelOptions
{
    /// <summary>The handler to send with; by default a SocketsHttpHandler that may open several HTTP/2 connections.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Whether disposing the channel disposes <see cref="HttpHandler"/>.</summary>
    public bool DisposeHttpHandler { get; set; } = true;

    /// <summary>Largest response message accepted (after decompression).</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcFraming.DefaultMaxMessageSize;

    /// <summary>Largest request message sent; null means no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>"gzip" to compress request messages; null sends them uncompressed.</summary>
    public string? RequestCompression { get; set; }

    /// <summary>Clock for deadlines.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    public string UserAgent { get; set; } = "trellis-grpc/1.0";
}
