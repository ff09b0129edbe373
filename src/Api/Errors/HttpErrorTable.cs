using Trellis.Core.Errors;

namespace Trellis.Api.Errors;

/// <summary>The one table from <see cref="ErrorKind"/> to an HTTP status and a gRPC-style code name for the HTTP APIs.</summary>
/// <remarks>
/// It agrees with <c>Trellis.Grpc.StatusMapping</c> (ASP.NET Core JSON transcoding's table) except for
/// <see cref="ErrorKind.ResourceExhausted"/>: the kernel raises it when a message or body is over a size limit, which HTTP
/// calls 413; a quota that is used up (nodes per gateway) is raised as an <see cref="ApiException"/> with 429.
/// </remarks>
public static class HttpErrorTable
{
    /// <summary>The HTTP status of an error kind.</summary>
    public static int ToHttpStatus(ErrorKind kind) => kind switch
    {
        ErrorKind.Cancelled => 499,
        ErrorKind.InvalidArgument => 400,
        ErrorKind.DeadlineExceeded => 504,
        ErrorKind.NotFound => 404,
        ErrorKind.AlreadyExists => 409,
        ErrorKind.PermissionDenied => 403,
        ErrorKind.ResourceExhausted => 413,
        ErrorKind.FailedPrecondition => 400,
        ErrorKind.Aborted => 409,
        ErrorKind.Unimplemented => 501,
        ErrorKind.Unavailable => 503,
        ErrorKind.Unauthenticated => 401,
        ErrorKind.Unknown or ErrorKind.Internal => 500,
        _ => 500,
    };

    /// <summary>The HTTP status of an exception: an <see cref="ApiException"/>'s own, else the table's for its kind.</summary>
    public static int ToHttpStatus(TrellisException exception) =>
        exception is ApiException api ? api.HttpStatus : ToHttpStatus(exception.Kind);

    /// <summary>The gRPC status name of an error kind (the <c>error.code</c> of an error body).</summary>
    public static string CodeName(ErrorKind kind) => kind switch
    {
        ErrorKind.Cancelled => "CANCELLED",
        ErrorKind.InvalidArgument => "INVALID_ARGUMENT",
        ErrorKind.DeadlineExceeded => "DEADLINE_EXCEEDED",
        ErrorKind.NotFound => "NOT_FOUND",
        ErrorKind.AlreadyExists => "ALREADY_EXISTS",
        ErrorKind.PermissionDenied => "PERMISSION_DENIED",
        ErrorKind.ResourceExhausted => "RESOURCE_EXHAUSTED",
        ErrorKind.FailedPrecondition => "FAILED_PRECONDITION",
        ErrorKind.Aborted => "ABORTED",
        ErrorKind.Unimplemented => "UNIMPLEMENTED",
        ErrorKind.Internal => "INTERNAL",
        ErrorKind.Unavailable => "UNAVAILABLE",
        ErrorKind.Unauthenticated => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    };
}
