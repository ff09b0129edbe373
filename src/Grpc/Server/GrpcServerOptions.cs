using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Server;

/// <summary>Settings for every gRPC service mapped in an application.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted (after decompression); bigger ones end the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcFraming.DefaultMaxMessageSize;

    /// <summary>Largest response message a handler may send; null means no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>When true, an unexpected handler exception's type and message go to the client; off by default so internals stay private.</summary>
    public bool EnableDetailedErrors { get; set; }

    /// <summary>Compression for responses ("gzip"), used only when the client's grpc-accept-encoding lists it; null sends identity.</summary>
    public string? ResponseCompressionAlgorithm { get; set; }

    /// <summary>Clock for deadlines; tests may substitute their own.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (MaxReceiveMessageSize <= 0)
        {
            throw new InvalidOperationException($"GrpcServerOptions.MaxReceiveMessageSize must be positive (was {MaxReceiveMessageSize}).");
        }

        if (MaxSendMessageSize is <= 0)
        {
            throw new InvalidOperationException($"GrpcServerOptions.MaxSendMessageSize must be positive or null (was {MaxSendMessageSize}).");
        }

        if (ResponseCompressionAlgorithm is not null && ResponseCompressionAlgorithm != GrpcCompression.Gzip && ResponseCompressionAlgorithm != GrpcCompression.Identity)
        {
            throw new InvalidOperationException(
                $"GrpcServerOptions.ResponseCompressionAlgorithm '{ResponseCompressionAlgorithm}' is not supported; use '{GrpcCompression.Gzip}', '{GrpcCompression.Identity}' or null.");
        }
    }
}
