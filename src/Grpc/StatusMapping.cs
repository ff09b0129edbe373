namespace Trellis.Grpc;

/// <summary>The one table between gRPC status codes and HTTP status codes, shared by gRPC, JSON transcoding and the HTTP API.</summary>
/// <remarks>
/// gRPC → HTTP follows ASP.NET Core JSON transcoding (MapStatusCodeToHttpStatus, see shared/reference/grpc-wire.md §6.3)
/// with one deliberate change: CANCELLED maps to 499 (Client Closed Request) as in Google's API design guide,
/// not 408, because Trellis already uses 499 for "the requester gave up" in its messaging codes.
/// FAILED_PRECONDITION stays 400 rather than 412, as ASP.NET Core and Google do.
/// </remarks>
public static class StatusMapping
{
    /// <summary>HTTP status used for a cancelled call (nginx/Google "Client Closed Request").</summary>
    public const int ClientClosedRequest = 499;

    /// <summary>HTTP status for a gRPC status code.</summary>
    public static int ToHttpStatus(StatusCode code) => code switch
    {
        StatusCode.OK => 200,
        StatusCode.Cancelled => ClientClosedRequest,
        StatusCode.Unknown => 500,
        StatusCode.InvalidArgument => 400,
        StatusCode.DeadlineExceeded => 504,
        StatusCode.NotFound => 404,
        StatusCode.AlreadyExists => 409,
        StatusCode.PermissionDenied => 403,
        StatusCode.ResourceExhausted => 429,
        StatusCode.FailedPrecondition => 400,
        StatusCode.Aborted => 409,
        StatusCode.OutOfRange => 400,
        StatusCode.Unimplemented => 501,
        StatusCode.Internal => 500,
        StatusCode.Unavailable => 503,
        StatusCode.DataLoss => 500,
        StatusCode.Unauthenticated => 401,
        _ => 500,
    };

    /// <summary>
    /// gRPC status for an HTTP status that states a domain outcome (the reverse of <see cref="ToHttpStatus"/>;
    /// where several codes share one HTTP status the most general one is chosen).
    /// </summary>
    public static StatusCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        >= 200 and < 300 => StatusCode.OK,
        400 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        408 => StatusCode.DeadlineExceeded,
        409 => StatusCode.Aborted,
        412 => StatusCode.FailedPrecondition,
        416 => StatusCode.OutOfRange,
        429 => StatusCode.ResourceExhausted,
        ClientClosedRequest => StatusCode.Cancelled,
        501 => StatusCode.Unimplemented,
        503 => StatusCode.Unavailable,
        504 => StatusCode.DeadlineExceeded,
        >= 400 and < 500 => StatusCode.FailedPrecondition,
        >= 500 and < 600 => StatusCode.Internal,
        _ => StatusCode.Unknown,
    };

    /// <summary>
    /// gRPC status a client reports when a gRPC call gets a non-200 HTTP response (grpc/grpc doc/http-grpc-status-mapping.md):
    /// the HTTP status then says something about the transport, not the method.
    /// </summary>
    public static StatusCode FromTransportHttpStatus(int httpStatus) => httpStatus switch
    {
        400 or 431 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        >= 100 and < 200 => StatusCode.Internal,
        _ => StatusCode.Unknown,
    };
}
