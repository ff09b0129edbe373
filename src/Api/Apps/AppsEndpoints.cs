using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Errors;
using Trellis.Hosting.Configuration;

namespace Trellis.Api.Apps;

/// <summary>Registers and maps the apps API: over HTTP /apps, /apps/{app}, /apps/{app}:{poke|peek|wipe|watch|leave}, and the gRPC
/// service trellis.v1.Apps.</summary>
public static class AppsEndpoints
{
    /// <summary>Adds the apps API's services; call after <c>AddTrellisProxy</c> and <c>AddTrellisGrains</c>.</summary>
    public static IServiceCollection AddTrellisApps(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(ConfigurationBinding.Bind<AppsOptions>(configuration, AppsOptions.Section).Validate());
        services.AddSingleton<AppsApi>();
        return services;
    }

    public static IEndpointRouteBuilder MapTrellisApps(this IEndpointRouteBuilder endpoints)
    {
        endpoints.Map("/apps", Route(static (api, c, _, _) => c.Request.Method == "POST" ? api.CreateAsync(c) : null, "POST"));
        // App names hold '/' (children) and the verb follows a ':', so the rest of the path is parsed here.
        endpoints.Map("/apps/{**rest}", Route(static (api, c, app, verb) => (verb, c.Request.Method) switch
        {
            (null, "GET") => api.InfoAsync(c, app),
            (null, "DELETE") => api.KillAsync(c, app),
            ("poke", "POST") => api.PokeAsync(c, app),
            ("peek", "POST" or "GET") => api.PeekAsync(c, app),
            ("wipe", "POST") => api.WipeAsync(c, app),
            ("watch", "POST" or "GET") => api.WatchAsync(c, app),
            ("leave", "POST") => api.LeaveAsync(c, app),
            _ => null,
        }, null));
        endpoints.MapGrpcService<AppsGrpcService>();
        return endpoints;
    }

    private static string Allowed(string? verb) => verb switch
    {
        null => "GET, DELETE",
        "peek" or "watch" => "GET, POST",
        _ => "POST",
    };

    private static RequestDelegate Route(Func<AppsApi, HttpContext, string, string?, Task?> handler, string? allow) => async context =>
    {
        var api = context.RequestServices.GetRequiredService<AppsApi>();
        try
        {
            var rest = context.Request.RouteValues["rest"] as string ?? "";
            var colon = rest.LastIndexOf(':');
            var (app, verb) = colon < 0 ? (rest, (string?)null) : (rest[..colon], rest[(colon + 1)..]);
            if (verb is not (null or "poke" or "peek" or "wipe" or "watch" or "leave"))
            {
                throw new Core.Errors.TrellisException(Core.Errors.ErrorKind.NotFound, "apps take the verbs :poke, :peek, :wipe, :watch and :leave");
            }

            var running = handler(api, context, app, verb)
                ?? throw ApiException.MethodNotAllowed(context.Request.Method, context.Request.Path.Value ?? "", allow ?? Allowed(verb));
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
}
