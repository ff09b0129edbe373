namespace Trellis.Core.Nodes;

/// <summary>What the gateway last learned of a node's health (Gilmour proxy: ok, unavailable, dirty).</summary>
public enum NodeStatus
{
    /// <summary>The health check answered 2xx: the node's subscriptions are live.</summary>
    Ok,

    /// <summary>The health check failed (non-2xx, timeout, broken answer): its subscriptions are removed until it answers again.</summary>
    Unavailable,

    /// <summary>Nothing listens on the node's port (connection refused): all activity for it stops until it answers again.</summary>
    Dirty,
}

/// <summary>The wire names of <see cref="NodeStatus"/>.</summary>
public static class NodeStatusNames
{
    public const string Ok = "ok";
    public const string Unavailable = "unavailable";
    public const string Dirty = "dirty";

    public static string ToWire(this NodeStatus status) => status switch
    {
        NodeStatus.Ok => Ok,
        NodeStatus.Unavailable => Unavailable,
        _ => Dirty,
    };

    public static bool TryParse(string? text, out NodeStatus status)
    {
        switch (text)
        {
            case Ok:
                status = NodeStatus.Ok;
                return true;
            case Unavailable:
                status = NodeStatus.Unavailable;
                return true;
            case Dirty:
                status = NodeStatus.Dirty;
                return true;
            default:
                status = NodeStatus.Dirty;
                return false;
        }
    }
}
