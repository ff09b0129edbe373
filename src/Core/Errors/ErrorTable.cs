using Trellis.Core.Messaging;

namespace Trellis.Core.Errors;

/// <summary>The one table between Trellis' errors and the statuses of its surfaces: an <see cref="ErrorKind"/> (whose
/// numbers are gRPC's status codes) to an HTTP status and a code name, and a reply code (a request's Gilmour code, an
/// app's nack code) to an <see cref="ErrorKind"/>. The REST API, the gRPC services and the JSON transcoding all read it.</summary>
/// <remarks>
/// HTTP follows ASP.NET Core JSON transcoding's gRPC→HTTP mapping with two deliberate changes: CANCELLED is 499 (Client
/// Closed Request, as in Google's API design guide), because Trellis already uses 499 for "the requester gave up"; and
/// RESOURCE_EXHAUSTED is 413, because the kernel raises it when a message or body is over a size limit (a used-up quota
/// says 429 through an <c>ApiException</c>). FAILED_PRECONDITION stays 400, as ASP.NET Core and Google have it.
/// </remarks>
public static class ErrorTable
{
    /// <summary>The HTTP status of an error kind.</summary>
    public static int HttpStatus(ErrorKind kind) => kind switch
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
        _ => 500,
    };

    /// <summary>The gRPC status name of an error kind (the <c>error.code</c> of an HTTP error body).</summary>
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

    /// <summary>Whether an error kind is the server's own fault: its text may carry internals and is not shown.</summary>
    public static bool IsServerFault(ErrorKind kind) => kind is ErrorKind.Unknown or ErrorKind.Internal;

    /// <summary>The error kind of a request that ended with a Gilmour code other than 2xx (HTTP answers with the code
    /// itself as its status; gRPC with this kind). A handler's own failure (500) is UNKNOWN: an application error.</summary>
    public static ErrorKind ForRequestCode(int code) => code switch
    {
        400 => ErrorKind.InvalidArgument,
        401 => ErrorKind.Unauthenticated,
        403 => ErrorKind.PermissionDenied,
        Codes.NotFound => ErrorKind.NotFound,
        409 => ErrorKind.Aborted,
        413 or 429 => ErrorKind.ResourceExhausted,
        Codes.RequestTimeout or Codes.HandlerTimeout or 408 => ErrorKind.DeadlineExceeded,
        501 => ErrorKind.Unimplemented,
        Codes.QueueFull => ErrorKind.Unavailable,
        >= 300 and < 500 => ErrorKind.FailedPrecondition,
        _ => ErrorKind.Unknown,
    };

    /// <summary>The error kind of an app's nack, which says who refused: the app is missing (404), the agent refused the
    /// event (another 4xx), the call ran out of time, or the agent could not be reached (503 and any other 5xx).</summary>
    public static ErrorKind ForAppNack(int code) => code switch
    {
        Codes.NotFound => ErrorKind.NotFound,
        Codes.RequestTimeout or Codes.HandlerTimeout => ErrorKind.DeadlineExceeded,
        401 => ErrorKind.Unauthenticated,
        403 => ErrorKind.PermissionDenied,
        413 => ErrorKind.ResourceExhausted,
        >= 400 and < 500 => ErrorKind.FailedPrecondition,
        _ => ErrorKind.Unavailable,
    };
}
