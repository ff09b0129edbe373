using Microsoft.Extensions.Configuration;
using Trellis.Core.Errors;

namespace Trellis.Hosting.Configuration;

/// <summary>Which transport carries the bus (<c>Trellis:Transport</c>).</summary>
public sealed class TransportOptions
{
    public const string Section = "Trellis:Transport";

    /// <summary><c>InMemory</c> (default, one process) or <c>RabbitMq</c>.</summary>
    public string Provider { get; set; } = "InMemory";

    public RabbitMqSettings RabbitMq { get; set; } = new();

    public bool IsRabbitMq => string.Equals(Provider, "RabbitMq", StringComparison.OrdinalIgnoreCase);

    public TransportOptions Validate()
    {
        if (!IsRabbitMq && !string.Equals(Provider, "InMemory", StringComparison.OrdinalIgnoreCase))
        {
            throw TrellisException.Invalid($"{Section}:Provider must be InMemory or RabbitMq (was '{Provider}')");
        }

        if (IsRabbitMq && !Uri.TryCreate(RabbitMq.Uri, UriKind.Absolute, out var uri) | (uri?.Scheme is not ("amqp" or "amqps")))
        {
            throw TrellisException.Invalid($"{Section}:RabbitMq:Uri must be an amqp:// or amqps:// URI (was '{RabbitMq.Uri}')");
        }

        return this;
    }
}

/// <summary>Where the RabbitMQ broker is (<c>Trellis:Transport:RabbitMq</c>).</summary>
public sealed class RabbitMqSettings
{
    public string Uri { get; set; } = "amqp://guest:guest@127.0.0.1:5672/";
}

/// <summary>The HTTP listener of the gateway endpoints (<c>Trellis:Http</c>).</summary>
public sealed class HttpOptions
{
    public const string Section = "Trellis:Http";

    /// <summary>The REST/JSON, dashboard and health listener; loopback unless configured.</summary>
    public string Url { get; set; } = "http://127.0.0.1:5080";

    public HttpOptions Validate()
    {
        if (!System.Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw TrellisException.Invalid($"{Section}:Url must be an http:// or https:// URL (was '{Url}')");
        }

        return this;
    }
}

/// <summary>Binds and validates a section, naming the key when binding itself fails.</summary>
public static class ConfigurationBinding
{
    public static T Bind<T>(IConfiguration configuration, string section)
        where T : new()
    {
        var value = new T();
        try
        {
            configuration.GetSection(section).Bind(value);
        }
        catch (InvalidOperationException e)
        {
            throw TrellisException.Invalid($"{section}: {e.Message}");
        }

        return value;
    }
}
