namespace Trellis.Core.Errors;

/// <summary>The kinds of failure Trellis reports; each maps to one gRPC status and one HTTP status.</summary>
/// <remarks>Values equal the gRPC status codes so the gRPC layer can cast them directly.</remarks>
public enum ErrorKind
{
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// <summary>A failure with a kind and a message that is safe to show to the caller.</summary>
public class TrellisException : Exception
{
    public TrellisException(ErrorKind kind, string message, Exception? inner = null)
        : base(message, inner) => Kind = kind;

    public ErrorKind Kind { get; }

    public static TrellisException Invalid(string message) => new(ErrorKind.InvalidArgument, message);

    public static TrellisException TooLarge(string message) => new(ErrorKind.ResourceExhausted, message);
}
