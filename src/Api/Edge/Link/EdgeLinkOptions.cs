using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Trellis.Core.Errors;
using Trellis.Hosting.Configuration;

namespace Trellis.Api.Edge.Link;

/// <summary>Settings of device links (configuration section <c>Trellis:Edge</c>).</summary>
public sealed class EdgeLinkOptions
{
    public const string Section = "Trellis:Edge";

    /// <summary>How often a device's agent sends a heartbeat (told to it in the welcome).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The largest message the gateway accepts on a link (more ends the link with RESOURCE_EXHAUSTED).</summary>
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The longest a cluster request waits for a device's reply (a request's own shorter timeout wins).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deliveries of one inport of a device's activity in flight down its link at once (acknowledged by the device).</summary>
    public int ActivityPrefetch { get; set; } = 16;

    /// <summary>How often the gateway reports each linked device's activities to their grains again; a gateway that stops
    /// (and so stops reporting) leaves them shown offline after three intervals.</summary>
    public TimeSpan ActivityReportInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>This gateway's name as the device grains record it (<c>Trellis:Gateway:Id</c>, else the machine name).</summary>
    public string GatewayName { get; set; } = Environment.MachineName;

    /// <summary>Binds <see cref="Section"/> and <c>Trellis:Gateway:Id</c>; throws naming the first bad key.</summary>
    public static EdgeLinkOptions From(IConfiguration configuration)
    {
        var options = ConfigurationBinding.Bind<EdgeLinkOptions>(configuration, Section);
        if (configuration["Trellis:Gateway:Id"] is { Length: > 0 } gateway)
        {
            options.GatewayName = gateway;
        }

        return options.Validate();
    }

    public EdgeLinkOptions Validate()
    {
        if (HeartbeatInterval <= TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"{Section}:HeartbeatInterval must be positive (was {HeartbeatInterval})");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"{Section}:RequestTimeout must be positive (was {RequestTimeout})");
        }

        if (ActivityPrefetch is < 1 or > 10_000)
        {
            throw TrellisException.Invalid($"{Section}:ActivityPrefetch must be from 1 to 10000 (was {ActivityPrefetch})");
        }

        if (ActivityReportInterval < TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"{Section}:ActivityReportInterval must not be negative (was {ActivityReportInterval})");
        }

        if (MaxMessageBytes < 1024)
        {
            throw TrellisException.Invalid($"{Section}:MaxMessageBytes must be at least 1024 (was {MaxMessageBytes})");
        }

        return this;
    }
}

/// <summary>Registers <see cref="EdgeLinks"/> and its options.</summary>
public static class EdgeLinkRegistration
{
    /// <summary>Adds <see cref="EdgeLinkOptions"/> (from <paramref name="configuration"/>) and the <see cref="EdgeLinks"/>
    /// singleton. The Edge gRPC service should take at most <see cref="EdgeLinkOptions.MaxMessageBytes"/> per message
    /// (its MaxReceiveMessageSize), so an oversize message ends the link naming that limit.</summary>
    public static IServiceCollection AddTrellisEdgeLinks(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(EdgeLinkOptions.From(configuration));
        services.TryAddSingleton<EdgeLinks>();
        return services;
    }
}
