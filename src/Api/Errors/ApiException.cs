using Trellis.Core.Errors;

namespace Trellis.Api.Errors;

/// <summary>An HTTP API error whose status is more precise than the table's for its kind (405, 413, 415, 429).</summary>
public sealed class ApiException(ErrorKind kind, int httpStatus, string message) : TrellisException(kind, message)
{
    public int HttpStatus { get; } = httpStatus;

    /// <summary>The HTTP status of an exception: an <see cref="ApiException"/>'s own, else the table's for its kind.</summary>
    public static int HttpStatusOf(TrellisException exception) =>
        exception is ApiException api ? api.HttpStatus : ErrorTable.HttpStatus(exception.Kind);

    /// <summary>A body or message over a size limit.</summary>
    public static ApiException PayloadTooLarge(string message) => new(ErrorKind.ResourceExhausted, 413, message);

    /// <summary>A quota that is used up (for example nodes per gateway).</summary>
    public static ApiException QuotaExceeded(string message) => new(ErrorKind.ResourceExhausted, 429, message);

    public static ApiException UnsupportedMediaType(string message) => new(ErrorKind.InvalidArgument, 415, message);

    public static ApiException MethodNotAllowed(string method, string path, string allowed) =>
        new(ErrorKind.Unimplemented, 405, $"{method} is not allowed on {path}; use {allowed}") { Allow = allowed };

    /// <summary>Missing credentials (no <paramref name="authenticateError"/>) or a bad token (<c>invalid_token</c>, RFC 6750).</summary>
    public static ApiException Unauthenticated(string message, string? authenticateError = null) =>
        new(ErrorKind.Unauthenticated, 401, message) { AuthenticateError = authenticateError };

    /// <summary>The methods a 405 answer lists in its Allow header.</summary>
    public string? Allow { get; private init; }

    /// <summary>The <c>error</c> parameter of a 401 answer's WWW-Authenticate challenge.</summary>
    public string? AuthenticateError { get; private init; }
}
