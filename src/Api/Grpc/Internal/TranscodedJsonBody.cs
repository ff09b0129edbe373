using Microsoft.AspNetCore.Http;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Reads the body of a transcoded <c>/v1/…</c> call as JSON whatever Content-Type it declares, as the REST routes
/// do: <c>curl -d</c> sends <c>application/x-www-form-urlencoded</c>, and a JSON API should not refuse it for that. A body
/// that is not JSON is still refused, naming the problem.</summary>
internal sealed class TranscodedJsonBody(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)
            && request.ContentType is { } type
            && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
            && !type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
        {
            request.ContentType = "application/json";
        }

        return next(context);
    }
}
