using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Trellis.Api.Errors;

/// <summary>How the flows and edge HTTP routes run a handler: one route value handed to it, 405 naming the allowed
/// methods when it has none for the request's method, errors answered in the API's error shape, and nothing written for
/// a client that went away.</summary>
internal static class RouteDispatch
{
    /// <summary>A route's delegate: <paramref name="handler"/> returns null for a method the route does not serve.</summary>
    public static RequestDelegate Dispatch<TApi>(TApi api, ILogger logger, string allow, string key, Func<TApi, HttpContext, string, Task?> handler) => async context =>
    {
        try
        {
            var value = context.Request.RouteValues[key] as string ?? "";
            var running = handler(api, context, value)
                ?? throw ApiException.MethodNotAllowed(context.Request.Method, context.Request.Path.Value ?? "", allow);
            await running;
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client is gone; there is nobody to answer.
        }
        catch (Exception e)
        {
            await ErrorResponses.WriteAsync(context, e, logger);
        }
    };

    /// <summary>A 404 naming what the API has, for paths under its prefix that no route takes.</summary>
    public static RequestDelegate NotFound(string message) => context =>
        ErrorResponses.WriteAsync(context, Core.Errors.ErrorKind.NotFound, StatusCodes.Status404NotFound, message);
}
