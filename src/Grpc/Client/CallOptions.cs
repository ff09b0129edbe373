namespace Trellis.Grpc.Client;

/// <summary>Per-call settings: metadata, deadline and cancellation.</summary>
public readonly record struct CallOptions
{
    public CallOptions(Metadata? headers = null, DateTimeOffset? deadline = null, CancellationToken cancellationToken = default)
    {
        Headers = headers;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>Custom metadata sent as request headers.</summary>
    public Metadata? Headers { get; init; }

    /// <summary>When the call must be finished: sent as grpc-timeout and enforced locally too.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Cancels the call (status CANCELLED).</summary>
    public CancellationToken CancellationToken { get; init; }
}
