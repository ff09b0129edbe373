using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Errors;

namespace Trellis.Api.Flows;

/// <summary>Registers and maps the flows API: over HTTP /flows/participants, /flows/graphs[/{name}],
/// /flows/queues/{queue}/messages and /dump, the gRPC service trellis.v1.Flows, and nodes as participants.</summary>
public static class FlowsEndpoints
{
    /// <summary>Adds the flows API's services; call after <c>AddTrellisProxy</c>. The flows themselves (IFlowNetworks,
    /// IFlowBroker) come from <c>AddTrellisFlows</c>.</summary>
    public static IServiceCollection AddTrellisFlowsApi(this IServiceCollection services)
    {
        services.AddSingleton<FlowOperations>();
        services.AddSingleton<FlowsApi>();
        services.AddSingleton<NodeParticipants>();
        services.AddHostedService(static sp => sp.GetRequiredService<NodeParticipants>());
        return services;
    }

    public static IEndpointRouteBuilder MapTrellisFlows(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.ServiceProvider.GetRequiredService<FlowsApi>();
        RequestDelegate Route(string allow, Func<FlowsApi, HttpContext, string, Task?> handler, string key = "name") => RouteDispatch.Dispatch(api, api.Logger, allow, key, handler);

        endpoints.Map("/flows/participants", Route("GET", static (api, c, _) => c.Request.Method == "GET" ? api.ListParticipantsAsync(c) : null));
        endpoints.Map("/flows/graphs", Route("GET", static (api, c, _) => c.Request.Method == "GET" ? api.ListGraphsAsync(c) : null));
        // Graph names hold '/' (default/main): the rest of the path is the name.
        endpoints.Map("/flows/graphs/{**name}", Route("GET, PUT, DELETE", static (api, c, name) => c.Request.Method switch
        {
            "GET" => api.GetGraphAsync(c, name),
            "PUT" => api.SetGraphAsync(c, name),
            "DELETE" => api.ClearGraphAsync(c, name),
            _ => null,
        }));
        endpoints.Map("/flows/setups/{**name}", Route("GET", static (api, c, name) => c.Request.Method == "GET" ? api.GetSetupAsync(c, name) : null));
        endpoints.Map("/flows/queues/{queue}/messages", Route("POST", static (api, c, q) => c.Request.Method == "POST" ? api.SendAsync(c, q) : null, "queue"));
        endpoints.Map("/flows/queues/{queue}/dump", Route("POST", static (api, c, q) => c.Request.Method == "POST" ? api.DumpAsync(c, q) : null, "queue"));
        endpoints.Map("/nodes/{id}/outports/{port}", Route("POST", static (api, c, id) =>
            c.Request.Method == "POST" ? api.SendOnOutportAsync(c, id, c.Request.RouteValues["port"] as string ?? "") : null, "id"));
        endpoints.Map("/flows/{**rest}", RouteDispatch.NotFound("the flows API has /flows/participants, /flows/graphs/{name}, /flows/setups/{name}, /flows/queues/{queue}/messages and /flows/queues/{queue}/dump"));
        endpoints.MapGrpcService<FlowsGrpcService>();
        return endpoints;
    }
}
