using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Core.Bus;
using Trellis.Core.Transport;
using Trellis.Core.Transport.InMemory;
using Trellis.Hosting.Configuration;
using Trellis.Transport.RabbitMq;

namespace Trellis.Hosting.Messaging;

/// <summary>Registers the bus and the configured transport.</summary>
public static class MessagingRegistration
{
    /// <summary>Adds <see cref="BusHost"/> (a hosted service) with the transport chosen by
    /// <c>Trellis:Transport:Provider</c>; throws on invalid configuration, naming the key.</summary>
    public static IServiceCollection AddTrellisMessaging(this IServiceCollection services, IConfiguration configuration)
    {
        var transport = ConfigurationBinding.Bind<TransportOptions>(configuration, TransportOptions.Section).Validate();
        var messaging = ConfigurationBinding.Bind<MessagingOptions>(configuration, "Trellis:Messaging").Validate();

        services.AddSingleton(transport);
        services.AddSingleton(messaging);
        services.AddSingleton<InMemoryBroker>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<Func<ITransport>>(sp => () => transport.IsRabbitMq
            ? RabbitMqTransportFactory.Create(transport.RabbitMq.Uri, sp.GetRequiredService<ILoggerFactory>())
            : new InMemoryTransport(sp.GetRequiredService<InMemoryBroker>(), sp.GetRequiredService<ILogger<InMemoryTransport>>()));
        services.AddSingleton<BusHost>();
        services.AddHostedService(sp => sp.GetRequiredService<BusHost>());
        return services;
    }
}
