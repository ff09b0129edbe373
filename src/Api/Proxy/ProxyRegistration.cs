using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Proxy.Internal;
using Trellis.Hosting.Configuration;

namespace Trellis.Api.Proxy;

/// <summary>Registers the node proxy's services from configuration.</summary>
public static class ProxyRegistration
{
    /// <summary>Adds the node registry and its health checks; throws naming the key on bad configuration. Call after
    /// <c>AddTrellisMessaging</c> and <c>AddTrellisCluster</c>, whose bus and node store it uses.</summary>
    public static IServiceCollection AddTrellisProxy(this IServiceCollection services, IConfiguration configuration)
    {
        var nodes = ConfigurationBinding.Bind<NodesOptions>(configuration, NodesOptions.Section).Validate();
        var security = ConfigurationBinding.Bind<SecurityOptions>(configuration, SecurityOptions.Section).Validate();
        services.AddSingleton(nodes);
        services.AddSingleton(security);
        services.AddSingleton<NodeRegistry>();
        services.AddSingleton<ProxyOperations>();
        services.AddSingleton<ProxyApi>();
        services.AddHostedService<ProxyHost>();
        return services;
    }
}
