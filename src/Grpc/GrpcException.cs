namespace Trellis.Grpc;

/// <summary>A call that ended with a non-OK status, on the server (thrown by a handler) or the client (thrown to the caller).</summary>
public sealed class GrpcException : Exception
{
    public GrpcException(StatusCode statusCode, string? detail = null, Metadata? trailers = null)
        : this(new Status(statusCode, detail ?? string.Empty), trailers)
    {
    }

    public GrpcException(Status status, Metadata? trailers = null, Exception? innerException = null)
        : base(status.ToString(), innerException)
    {
        Status = status;
        Trailers = trailers ?? new Metadata();
    }

    public Status Status { get; }

    public StatusCode StatusCode => Status.StatusCode;

    /// <summary>The status message exactly as sent on the wire (after percent-decoding).</summary>
    public string Detail => Status.Detail;

    /// <summary>Trailing metadata sent with the status (the server writes these before grpc-status).</summary>
    public Metadata Trailers { get; }
}
