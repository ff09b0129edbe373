using System.Text.Json;

namespace Trellis.Core.Apps;

/// <summary>The durable record of an app: which agent runs it at which version, the agent's state, its subscribers,
/// its children, and the ids of recent messages so a redelivered one is absorbed.</summary>
public sealed class AppRecord
{
    /// <summary>How many message ids are remembered for deduplication.</summary>
    public const int RecentCapacity = 512;

    public string? Agent { get; set; }

    public string? Version { get; set; }

    public JsonElement? State { get; set; }

    public List<AppSubscriber> Subscribers { get; set; } = [];

    public List<string> Children { get; set; } = [];

    public List<string> Recent { get; set; } = [];

    /// <summary>Pokes acknowledged so far.</summary>
    public long Pokes { get; set; }

    internal void Remember(string id)
    {
        Recent.Add(id);
        if (Recent.Count > RecentCapacity)
        {
            Recent.RemoveRange(0, Recent.Count - RecentCapacity);
        }
    }
}

/// <summary>A subscription to an app's path: a client (facts as signals on <c>trellis.apps.watchers.&lt;id&gt;</c>) or
/// another app (facts as sign events on its wire).</summary>
public sealed class AppSubscriber
{
    public string Id { get; set; } = "";

    public string Path { get; set; } = "/";

    /// <summary>The watching app, or null for a client.</summary>
    public string? App { get; set; }

    public string? Wire { get; set; }

    /// <summary>The signal topic a client subscriber receives its facts on.</summary>
    public static string ClientTopic(string subscriberId) => $"trellis.apps.watchers.{subscriberId}";
}
