using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Operator.Internal;
using Trellis.Api.Errors;
using Trellis.Api.Proxy;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Operator;

/// <summary>Maps the operator routes: <c>GET /errors</c> (the error channel as Server-Sent Events), <c>POST
/// /cluster/request</c> and <c>POST /cluster/signal</c> (publishing on behalf of the cluster, without a node). They need
/// the admin token when one is set, and are loopback only otherwise.</summary>
public static class OperatorEndpoints
{
    public static IEndpointRouteBuilder MapTrellisOperator(this IEndpointRouteBuilder endpoints)
    {
        var services = endpoints.ServiceProvider;
        var access = new OperatorAccess(services.GetRequiredService<SecurityOptions>());
        var errors = new ErrorChannel(services.GetRequiredService<BusHost>(), access);
        var publishing = new ClusterPublishing(services.GetRequiredService<ProxyOperations>(), access);
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OperatorEndpoints));

        endpoints.Map("/errors", RouteDispatch.Dispatch(errors, logger, "GET", "", static (e, c, _) => c.Request.Method == "GET" ? e.StreamAsync(c) : null));
        endpoints.Map("/cluster/request", RouteDispatch.Dispatch(publishing, logger, "POST", "", static (p, c, _) => c.Request.Method == "POST" ? p.RequestAsync(c) : null));
        endpoints.Map("/cluster/signal", RouteDispatch.Dispatch(publishing, logger, "POST", "", static (p, c, _) => c.Request.Method == "POST" ? p.SignalAsync(c) : null));
        endpoints.Map("/cluster/{**rest}", RouteDispatch.NotFound("/cluster has only request and signal (POST /cluster/request, POST /cluster/signal)"));
        return endpoints;
    }
}
