namespace Trellis.Core.Nodes;

/// <summary>A node registered through the proxy API: where the gateway calls it and what it subscribes to.</summary>
/// <param name="Id">32 random lowercase hex characters.</param>
/// <param name="Host">The callback host: 127.0.0.1 unless an allow-listed host was asked for.</param>
/// <param name="HealthCheck">The absolute path the gateway GETs to check the node's health.</param>
/// <param name="TokenHash">SHA-256 of the node's bearer token; the token itself is never stored.</param>
public sealed record NodeRecord(
    string Id,
    string Host,
    int Port,
    string HealthCheck,
    IReadOnlyList<NodeSubscription> Slots,
    IReadOnlyList<NodeSubscription> Services,
    NodeStatus Status,
    byte[] TokenHash,
    DateTimeOffset Created)
{
    /// <summary>The flow ports the node declared at registration, or null (records stored before flows read as null).</summary>
    public NodeFlowDeclaration? Flow { get; init; }

    /// <summary>The host every node is called on unless configuration allows another.</summary>
    public const string LoopbackHost = "127.0.0.1";

    /// <summary>The health path when registration names none (as in the Gilmour proxy).</summary>
    public const string DefaultHealthCheck = "/health";

    /// <summary>A node served by a gRPC Connect stream rather than an HTTP server: it has no port and no health check.</summary>
    public bool IsStreamNode => Port == 0;

    /// <summary>How many subscriptions (slots and services) the node holds.</summary>
    public int SubscriptionCount => Slots.Count + Services.Count;
}

/// <summary>A slot or service of a node: the gateway subscribes on the bus and POSTs each delivery to <see cref="Path"/>.</summary>
/// <param name="Topic">A topic (services) or a glob pattern (slots).</param>
/// <param name="Group">The exclusion group; mandatory for services, optional for slots.</param>
/// <param name="Timeout">How long the node's handler may run before the call is cut (504).</param>
public sealed record NodeSubscription(string Topic, string? Group, string Path, TimeSpan Timeout)
{
    /// <summary>Writes the subscriptions as the proxy API shows them and the node store keeps them:
    /// an array of <c>{topic, group, path, timeout}</c> with the timeout in seconds.</summary>
    public static void WriteArray(System.Text.Json.Utf8JsonWriter writer, IReadOnlyList<NodeSubscription> subscriptions)
    {
        writer.WriteStartArray();
        foreach (var s in subscriptions)
        {
            writer.WriteStartObject();
            writer.WriteString("topic", s.Topic);
            if (s.Group is null)
            {
                writer.WriteNull("group");
            }
            else
            {
                writer.WriteString("group", s.Group);
            }

            writer.WriteString("path", s.Path);
            writer.WriteNumber("timeout", s.Timeout.TotalSeconds);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
