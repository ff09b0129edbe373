using Trellis.Core.Errors;

namespace Trellis.Transport.RabbitMq;

/// <summary>Settings of the RabbitMQ transport (configuration section <c>Trellis:Transport:RabbitMq</c>).</summary>
public sealed class RabbitMqOptions
{
    public const string Section = "Trellis:Transport:RabbitMq";

    /// <summary>The broker, e.g. <c>amqp://user:password@host:5672/vhost</c> (or <c>amqps://</c>).</summary>
    public Uri? Uri { get; set; }

    /// <summary>Shown by the broker for this process's connection (management UI, <c>rabbitmqctl list_connections</c>).</summary>
    public string ConnectionName { get; set; } = "trellis";

    /// <summary>Names the exchanges (<c>{Prefix}.requests</c>, <c>.signals</c>, <c>.durable</c>) and the shared
    /// queues, so several clusters can share one virtual host without seeing each other.</summary>
    public string Prefix { get; set; } = "trellis";

    /// <summary>Unacknowledged deliveries per consumer when a subscription asks for none.</summary>
    public int DefaultPrefetch { get; set; } = 64;

    /// <summary>The most unacknowledged deliveries any consumer may hold, whatever a subscription asks for.</summary>
    public int MaxPrefetch { get; set; } = 1000;

    /// <summary>Publish requests with publisher confirms, so a full service queue answers 503 at once.
    /// Off, a request refused by a full queue is lost and its requester waits for its timeout (499).</summary>
    public bool ConfirmRequests { get; set; } = true;

    /// <summary>Publish signals with publisher confirms (and mandatory routing), so
    /// <c>SignalAsync</c> reports a full slot queue or a topic nobody listens to. Off, every signal
    /// reports Routed and costs the publisher no round trip to the broker.</summary>
    public bool ConfirmSignals { get; set; } = true;

    /// <summary>Channels that publish requests and receive their replies (direct reply-to). Publishes
    /// on one channel are written one after another; more channels let them go out in parallel.</summary>
    public int RequestChannels { get; set; } = 1;

    /// <summary>How long to wait between attempts to reconnect after the connection is lost.</summary>
    public TimeSpan RecoveryInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The AMQP heartbeat: a dead peer is noticed after about twice this long.</summary>
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The direct exchange for service requests (service topics are exact).</summary>
    public string RequestsExchange => Prefix + ".requests";

    /// <summary>The topic exchange for signals.</summary>
    public string SignalsExchange => Prefix + ".signals";

    /// <summary>The durable topic exchange for durable messages.</summary>
    public string DurableExchange => Prefix + ".durable";

    /// <summary>Throws a <see cref="TrellisException"/> naming the first bad setting and how to fix it.</summary>
    public RabbitMqOptions Validate()
    {
        if (Uri is null)
        {
            throw Invalid(nameof(Uri), "is required, e.g. amqp://guest:guest@127.0.0.1:5672/");
        }

        if (!Uri.IsAbsoluteUri || Uri.Scheme is not ("amqp" or "amqps"))
        {
            throw Invalid(nameof(Uri), $"must be an absolute amqp:// or amqps:// URI (was '{Redacted(Uri)}')");
        }

        if (string.IsNullOrWhiteSpace(ConnectionName))
        {
            throw Invalid(nameof(ConnectionName), "may not be empty");
        }

        ValidatePrefix();
        AtLeast(nameof(DefaultPrefetch), DefaultPrefetch, 1, ushort.MaxValue);
        AtLeast(nameof(MaxPrefetch), MaxPrefetch, 1, ushort.MaxValue);
        AtLeast(nameof(RequestChannels), RequestChannels, 1, 64);
        if (RecoveryInterval <= TimeSpan.Zero)
        {
            throw Invalid(nameof(RecoveryInterval), $"must be positive (was {RecoveryInterval})");
        }

        if (Heartbeat < TimeSpan.Zero || Heartbeat > TimeSpan.FromSeconds(ushort.MaxValue))
        {
            throw Invalid(nameof(Heartbeat), $"must be between 0 (off) and {ushort.MaxValue} s (was {Heartbeat})");
        }

        return this;
    }

    private void ValidatePrefix()
    {
        if (string.IsNullOrEmpty(Prefix) || Prefix.Length > 64)
        {
            throw Invalid(nameof(Prefix), $"must be 1 to 64 characters long (was '{Prefix}')");
        }

        if (Prefix.StartsWith("amq.", StringComparison.Ordinal) || Prefix == "amq")
        {
            throw Invalid(nameof(Prefix), $"may not start with 'amq.', which RabbitMQ reserves (was '{Prefix}')");
        }

        foreach (var c in Prefix)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                throw Invalid(nameof(Prefix), $"may hold only ASCII letters, digits and - _ . : (was '{Prefix}')");
            }
        }
    }

    private static void AtLeast(string name, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            throw Invalid(name, $"must be between {min} and {max} (was {value})");
        }
    }

    private static TrellisException Invalid(string name, string problem) => TrellisException.Invalid($"{Section}:{name} {problem}");

    /// <summary>The URI without its password, for messages and logs.</summary>
    internal static string Redacted(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo) || !uri.IsAbsoluteUri)
        {
            return uri.ToString();
        }

        var user = uri.UserInfo.Split(':')[0];
        return new UriBuilder(uri) { UserName = user, Password = "***" }.Uri.ToString();
    }
}
