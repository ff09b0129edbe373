namespace Trellis.Api.Edge;

/// <summary>The cluster topics of edge devices. The gateway holding a device's link subscribes them on the bus, so a
/// request from any node, app or client in the cluster reaches the device wherever its link is.</summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>edge.&lt;publisher&gt;.&lt;service&gt;</c> (group <see cref="Group"/>): one of the service's providers.</item>
/// <item><c>edge.&lt;publisher&gt;.&lt;service&gt;.&lt;provider&gt;</c>: that device's instance.</item>
/// <item><c>edge._control.&lt;provider&gt;</c>: a command of the device's local API (jobs) for the admin API. The request
/// carries <c>{"method", "path", "body"?, "priority"?: "high"|"normal"|"low", "timeout"?: seconds}</c>; the reply is
/// <c>{"status": &lt;the device's HTTP status&gt;, "body": &lt;its JSON&gt;}</c> with code 200. No subscriber (404) means the
/// device is offline.</item>
/// </list>
/// Names may not contain '_', so <c>_control</c> never clashes with a publisher. Nodes may not subscribe under
/// <see cref="Prefix"/>: only device links serve these topics.
/// </remarks>
public static class EdgeTopics
{
    public const string Prefix = "edge.";

    /// <summary>The exclusion group of every edge subscription: one provider serves each request.</summary>
    public const string Group = "edge";

    public static string Service(string publisher, string service) => $"edge.{publisher}.{service}";

    public static string Instance(string publisher, string service, string provider) => $"edge.{publisher}.{service}.{provider}";

    public static string Control(string provider) => $"edge._control.{provider}";

    /// <summary>Signalled (no data) when the admin revokes a device's token: the gateway holding its link closes it.</summary>
    public static string Revoked(string provider) => $"edge._revoked.{provider}";

    /// <summary>Whether a node's subscription topic falls in the reserved space.</summary>
    public static bool IsReserved(string topic) => topic.StartsWith(Prefix, StringComparison.Ordinal) || topic == "edge";
}
