using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Errors;

namespace Trellis.Api.Proxy;

/// <summary>Maps the Gilmour proxy HTTP API: /nodes, /nodes/:id, /nodes/:id/slots, /nodes/:id/services, /request/:id, /signal/:id.</summary>
public static class ProxyEndpoints
{
    public static IEndpointRouteBuilder MapTrellisProxy(this IEndpointRouteBuilder endpoints)
    {
        // A singleton, resolved once: asking RequestServices per request would open a DI scope for every request.
        var api = endpoints.ServiceProvider.GetRequiredService<ProxyApi>();
        RequestDelegate Route(string allow, Func<ProxyApi, HttpContext, string, Task?> handler) => Dispatch(api, allow, handler);

        // One endpoint per path that dispatches on the method itself, so a wrong method gets a 405 with an error body and
        // an Allow header rather than the router's empty answer.
        endpoints.Map("/nodes", Route("POST, GET", static (api, c, _) => c.Request.Method switch
        {
            "POST" => api.RegisterAsync(c),
            "GET" => api.ListNodesAsync(c),
            _ => null,
        }));
        endpoints.Map("/nodes/{id}", Route("GET, DELETE", static (api, c, id) => c.Request.Method switch
        {
            "GET" => api.GetNodeAsync(c, id),
            "DELETE" => api.DeleteNodeAsync(c, id),
            _ => null,
        }));
        endpoints.Map("/nodes/{id}/slots", Route("POST, GET, DELETE", static (api, c, id) => Subscriptions(api, c, id, service: false)));
        endpoints.Map("/nodes/{id}/services", Route("POST, GET, DELETE", static (api, c, id) => Subscriptions(api, c, id, service: true)));
        endpoints.Map("/request/{id}", Route("POST", static (api, c, id) => c.Request.Method == "POST" ? api.RequestAsync(c, id) : null));
        endpoints.Map("/signal/{id}", Route("POST", static (api, c, id) => c.Request.Method == "POST" ? api.SignalAsync(c, id) : null));

        endpoints.Map("/nodes/{id}/{**rest}", NotFound("/nodes/{id} has only the sub-resources slots and services"));
        endpoints.Map("/request", NotFound("the calling node's id is missing: POST /request/{id}"));
        endpoints.Map("/signal", NotFound("the signalling node's id is missing: POST /signal/{id}"));
        return endpoints;
    }

    private static Task? Subscriptions(ProxyApi api, HttpContext context, string id, bool service) => context.Request.Method switch
    {
        "POST" => api.AddSubscriptionAsync(context, id, service),
        "GET" => api.ListSubscriptionsAsync(context, id, service),
        "DELETE" => api.RemoveSubscriptionsAsync(context, id, service),
        _ => null,
    };

    /// <summary>Runs a handler (null from it means the method is not allowed) and turns every exception into an error body.</summary>
    private static RequestDelegate Dispatch(ProxyApi api, string allow, Func<ProxyApi, HttpContext, string, Task?> handler) => async context =>
    {
        try
        {
            var id = context.Request.RouteValues["id"] as string ?? "";
            var running = handler(api, context, id)
                ?? throw ApiException.MethodNotAllowed(context.Request.Method, context.Request.Path.Value ?? "", allow);
            await running;
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client is gone; there is nobody to answer.
        }
        catch (Exception e)
        {
            await ErrorResponses.WriteAsync(context, e, api.Logger);
        }
    };

    private static RequestDelegate NotFound(string message) => context =>
        ErrorResponses.WriteAsync(context, Core.Errors.ErrorKind.NotFound, StatusCodes.Status404NotFound, message);
}
