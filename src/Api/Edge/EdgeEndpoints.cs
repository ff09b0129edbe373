using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Trellis.Api.Edge.Link;
using Trellis.Api.Errors;
using Trellis.Hosting.Configuration;

namespace Trellis.Api.Edge;

/// <summary>Registers and maps the edge API: over HTTP /edge/devices[/{provider}[/token|/commands]], /edge/services,
/// /edge/builds[/{arch}[/binary]], and the gRPC service trellis.v1.Edge (the device link and the same admin calls).</summary>
public static class EdgeEndpoints
{
    /// <summary>Adds the edge API's services; call after <c>AddTrellisProxy</c>.</summary>
    public static IServiceCollection AddTrellisEdge(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(ConfigurationBinding.Bind<EdgeBuildsOptions>(configuration, EdgeBuildsOptions.Section).Validate());
        services.TryAddSingleton<EdgeBuilds>();
        services.TryAddSingleton<IEdgeBuilds>(static sp => sp.GetRequiredService<EdgeBuilds>());
        services.TryAddSingleton<EdgeOperations>();
        services.TryAddSingleton<EdgeApi>();
        services.AddTrellisEdgeLinks(configuration);
        var link = EdgeLinkOptions.From(configuration);
        // The link's messages are limited by the edge setting, not by the API's general body limit, so an oversize
        // message ends the link naming Trellis:Edge:MaxMessageBytes.
        services.Configure<global::Grpc.AspNetCore.Server.GrpcServiceOptions<EdgeGrpcService>>(o => o.MaxReceiveMessageSize = link.MaxMessageBytes);
        return services;
    }

    public static IEndpointRouteBuilder MapTrellisEdge(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.ServiceProvider.GetRequiredService<EdgeApi>();
        RequestDelegate Route(string allow, Func<EdgeApi, HttpContext, string, Task?> handler, string key = "provider") => RouteDispatch.Dispatch(api, api.Logger, allow, key, handler);

        endpoints.Map("/edge/devices", Route("GET", static (api, c, _) => c.Request.Method == "GET" ? api.ListDevicesAsync(c) : null));
        endpoints.Map("/edge/devices/{provider}", Route("GET", static (api, c, p) => c.Request.Method == "GET" ? api.GetDeviceAsync(c, p) : null));
        endpoints.Map("/edge/devices/{provider}/token", Route("POST, DELETE", static (api, c, p) => c.Request.Method switch
        {
            "POST" => api.IssueTokenAsync(c, p),
            "DELETE" => api.RevokeTokenAsync(c, p),
            _ => null,
        }));
        endpoints.Map("/edge/devices/{provider}/commands", Route("POST", static (api, c, p) => c.Request.Method == "POST" ? api.CommandAsync(c, p) : null));
        endpoints.Map("/edge/services", Route("GET", static (api, c, _) => c.Request.Method == "GET" ? api.DiscoverAsync(c) : null));
        endpoints.Map("/edge/builds", Route("GET", static (api, c, _) => c.Request.Method == "GET" ? api.ListBuildsAsync(c) : null));
        endpoints.Map("/edge/builds/{arch}", Route("GET, PUT", static (api, c, arch) => c.Request.Method switch
        {
            "GET" => api.LatestBuildAsync(c, arch),
            "PUT" => api.UploadBuildAsync(c, arch),
            _ => null,
        }, "arch"));
        endpoints.Map("/edge/builds/{arch}/binary", Route("GET", static (api, c, arch) => c.Request.Method == "GET" ? api.DownloadBuildAsync(c, arch) : null, "arch"));
        endpoints.Map("/edge/{**rest}", RouteDispatch.NotFound("the edge API has /edge/devices[/{provider}[/token|/commands]], /edge/services and /edge/builds[/{arch}[/binary]]"));
        endpoints.MapGrpcService<EdgeGrpcService>();
        return endpoints;
    }
}
