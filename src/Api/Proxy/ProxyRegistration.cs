using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Nodes;
using Trellis.Hosting.Configuration;
using Trellis.Storage.Nodes;

namespace Trellis.Api.Proxy;

/// <summary>Registers the node proxy's services from configuration.</summary>
public static class ProxyRegistration
{
    /// <summary>The SQLite file when <c>Trellis:Storage:Sqlite:Path</c> is not set.</summary>
    public const string DefaultSqlitePath = "data/trellis.db";

    /// <summary>Adds the node registry, its store and its health checks; throws naming the key on bad configuration.
    /// Call after <c>AddTrellisMessaging</c>, whose bus it uses.</summary>
    public static IServiceCollection AddTrellisProxy(this IServiceCollection services, IConfiguration configuration)
    {
        var nodes = ConfigurationBinding.Bind<NodesOptions>(configuration, NodesOptions.Section).Validate();
        var security = ConfigurationBinding.Bind<SecurityOptions>(configuration, SecurityOptions.Section).Validate();
        var inMemory = nodes.Store switch
        {
            NodeStoreKind.InMemory => true,
            NodeStoreKind.Sqlite => false,
            _ => string.Equals(configuration["Trellis:Storage:Provider"], "InMemory", StringComparison.OrdinalIgnoreCase),
        };
        var path = configuration["Trellis:Storage:Sqlite:Path"] is { Length: > 0 } configured ? configured : DefaultSqlitePath;

        services.AddSingleton(nodes);
        services.AddSingleton(security);
        services.AddSingleton<INodeStore>(_ => inMemory ? new InMemoryNodeStore() : SqliteNodeStore.Open(path));
        services.AddSingleton<NodeRegistry>();
        services.AddSingleton<ProxyOperations>();
        services.AddSingleton<ProxyApi>();
        services.AddHostedService<ProxyHost>();
        return services;
    }
}
