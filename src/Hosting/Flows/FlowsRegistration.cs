using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows;
using Trellis.Hosting.Configuration;
using Trellis.Transport.RabbitMq;
using Trellis.Transport.RabbitMq.Flows;

namespace Trellis.Hosting.Flows;

/// <summary>Registers MsgFlo flows: the flow broker of the configured transport, <see cref="IFlowNetworks"/>, and on
/// silos the <c>fbp</c> discovery consumer.</summary>
public static class FlowsRegistration
{
    /// <summary>Adds the <see cref="IFlowBroker"/> chosen by <c>Trellis:Transport:Provider</c> (started with the host,
    /// disposed at stop), <see cref="IFlowNetworks"/> and, when <paramref name="hostSilo"/>, the discovery consumer;
    /// throws on invalid configuration, naming the key.</summary>
    public static WebApplicationBuilder AddTrellisFlows(this WebApplicationBuilder builder, bool hostSilo)
    {
        var transport = ConfigurationBinding.Bind<TransportOptions>(builder.Configuration, TransportOptions.Section).Validate();
        var options = ReadOptions(builder.Configuration);
        var services = builder.Services;
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IFlowBroker>(sp => transport.IsRabbitMq
            ? new RabbitMqFlowBroker(new RabbitMqOptions { Uri = new Uri(transport.RabbitMq.Uri) }, sp.GetRequiredService<ILoggerFactory>())
            : new InMemoryFlowBroker(loggers: sp.GetRequiredService<ILoggerFactory>()));
        services.AddHostedService<FlowBrokerHost>();
        services.AddSingleton<IFlowNetworks>(sp => new FlowNetworks(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<IFlowBroker>()));
        if (hostSilo)
        {
            services.AddSingleton<FlowDiscoveryService>();
            services.AddHostedService(sp => sp.GetRequiredService<FlowDiscoveryService>());
        }

        return builder;
    }

    /// <summary>Reads <c>Trellis:Flows</c>; durations are seconds (<c>600</c>) or a TimeSpan (<c>00:10:00</c>).</summary>
    internal static FlowsOptions ReadOptions(IConfiguration configuration)
    {
        var section = configuration.GetSection(FlowsOptions.Section);
        return new FlowsOptions
        {
            ParticipantTimeout = Duration(section, nameof(FlowsOptions.ParticipantTimeout), FlowsOptions.DefaultParticipantTimeout),
            DiscoveryRetry = Duration(section, nameof(FlowsOptions.DiscoveryRetry), new FlowsOptions().DiscoveryRetry),
        };
    }

    private static TimeSpan Duration(IConfigurationSection section, string key, TimeSpan fallback)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        throw TrellisException.Invalid($"{section.Path}:{key} must be a positive number of seconds or a duration like 00:10:00 (was '{text}')");
    }
}
