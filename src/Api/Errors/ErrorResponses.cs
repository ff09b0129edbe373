using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Grains.Cluster;

namespace Trellis.Api.Errors;

/// <summary>Writes error bodies of the HTTP APIs: <c>{"error": {"code": "INVALID_ARGUMENT", "message": "..."}}</c>.</summary>
/// <remarks>Client mistakes get a 4xx with a message naming the field or the problem; a cluster that cannot answer now
/// (<see cref="ClusterFaults"/>) gets 503; anything unexpected gets 500 with a generic message, and the details go to the
/// log only.</remarks>
public static partial class ErrorResponses
{
    /// <summary>The realm named in WWW-Authenticate challenges.</summary>
    public const string Realm = "trellis";

    public static Task WriteAsync(HttpContext context, ErrorKind kind, int status, string message, string? authenticateError = null, string? allow = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Too late for a status line: cut the connection so the client sees a failure, not a truncated success.
            context.Abort();
            return Task.CompletedTask;
        }

        response.Clear();
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        if (allow is not null)
        {
            response.Headers.Allow = allow;
        }

        if (status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = authenticateError is null
                ? $"Bearer realm=\"{Realm}\""
                : $"Bearer realm=\"{Realm}\", error=\"{authenticateError}\"";
        }

        return WriteBodyAsync(response, kind, message);
    }

    /// <summary>Answers for an exception thrown while handling a request.</summary>
    public static Task WriteAsync(HttpContext context, Exception exception, ILogger logger)
    {
        switch (exception)
        {
            case ApiException { HttpStatus: 405, Allow: { } allow } api:
                return WriteAsync(context, api.Kind, api.HttpStatus, api.Message, allow: allow);
            case ApiException { HttpStatus: 401 } unauthenticated:
                return WriteAsync(context, unauthenticated.Kind, 401, unauthenticated.Message, unauthenticated.AuthenticateError);
            case TrellisException known:
                var status = ApiException.HttpStatusOf(known);
                if (status == StatusCodes.Status500InternalServerError)
                {
                    // Unknown and Internal are the server's own faults: their text may carry internals.
                    LogServerError(logger, exception, context.Request.Method, context.Request.Path.Value ?? "");
                    return WriteAsync(context, known.Kind, status, "The server failed to handle the request; see its log.");
                }

                return WriteAsync(context, known.Kind, status, known.Message);
            case BadHttpRequestException bad:
                // Kestrel's own refusals (body over its limit, malformed chunking, ...).
                return WriteAsync(context, bad.StatusCode == 413 ? ErrorKind.ResourceExhausted : ErrorKind.InvalidArgument, bad.StatusCode, $"bad request: {bad.Message}");
            case var passing when ClusterFaults.CannotAnswerNow(passing, context.RequestAborted):
                // A grain call that met silos dying or joining, not handled where it was made: the client may try again.
                LogClusterUnavailable(logger, exception, context.Request.Method, context.Request.Path.Value ?? "");
                return WriteAsync(context, ErrorKind.Unavailable, StatusCodes.Status503ServiceUnavailable, ClusterUnavailableMessage);
            default:
                LogServerError(logger, exception, context.Request.Method, context.Request.Path.Value ?? "");
                return WriteAsync(context, ErrorKind.Internal, 500, "The server failed to handle the request; see its log.");
        }
    }

    private static async Task WriteBodyAsync(HttpResponse response, ErrorKind kind, string message)
    {
        await using (var writer = new Utf8JsonWriter(response.BodyWriter, ResponseJson.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("code", ErrorTable.CodeName(kind));
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        await response.BodyWriter.FlushAsync();
    }

    /// <summary>The answer to a call the cluster could not answer (<see cref="ClusterFaults"/>), with no internals in it.</summary>
    public const string ClusterUnavailableMessage = "the cluster cannot answer now (silos are leaving or joining); try again";

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path}: the cluster could not answer")]
    private static partial void LogClusterUnavailable(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed unexpectedly")]
    private static partial void LogServerError(ILogger logger, Exception exception, string method, string path);
}
