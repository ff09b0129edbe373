using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Trellis.Grains.Apps;

/// <summary>The durable record of an app: which agent runs it at which version, the agent's state, its subscribers,
/// its children, the messages it still owes other apps, and the ids of recent messages so a redelivered one is absorbed.</summary>
[GenerateSerializer]
public sealed class AppRecord
{
    /// <summary>How many message ids are remembered for deduplication.</summary>
    public const int RecentCapacity = 512;

    /// <summary>The agent's name; null while the app does not exist (never created, or killed).</summary>
    [Id(0)]
    public string? Agent { get; set; }

    [Id(1)]
    public string? Version { get; set; }

    /// <summary>The agent's state as JSON text.</summary>
    [Id(2)]
    public string? State { get; set; }

    [Id(3)]
    public List<AppSubscriber> Subscribers { get; set; } = [];

    [Id(4)]
    public List<string> Children { get; set; } = [];

    /// <summary>Recent message ids, each as the first 8 bytes of its SHA-256: the record is written on every event, and
    /// 512 ids as text were most of its bytes.</summary>
    [Id(5)]
    public List<long> Recent { get; set; } = [];

    /// <summary>Pokes acknowledged so far.</summary>
    [Id(6)]
    public long Pokes { get; set; }

    /// <summary>Events for other apps decided by a stored step and not yet delivered; they are stored with the step, so
    /// a silo dying right after the write still delivers them (from the next activation).</summary>
    [Id(7)]
    public List<AppOutgoing> Outbox { get; set; } = [];

    /// <summary>The number of the last event published on the app's stream for client watchers.</summary>
    [Id(8)]
    public long StreamSeq { get; set; }

    internal bool Seen(string id) => Recent.Contains(Fingerprint(id));

    internal void Remember(string id)
    {
        Recent.Add(Fingerprint(id));
        if (Recent.Count > RecentCapacity)
        {
            Recent.RemoveRange(0, Recent.Count - RecentCapacity);
        }
    }

    private static long Fingerprint(string id)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(id), hash);
        return BinaryPrimitives.ReadInt64LittleEndian(hash);
    }
}

/// <summary>A subscription to an app's path: a client (facts on the app's stream, <see cref="AppStreams"/>) or another
/// app (facts as sign events on its wire).</summary>
[GenerateSerializer]
public sealed class AppSubscriber
{
    [Id(0)]
    public string Id { get; set; } = "";

    [Id(1)]
    public string Path { get; set; } = "/";

    /// <summary>The watching app, or null for a client.</summary>
    [Id(2)]
    public string? App { get; set; }

    [Id(3)]
    public string? Wire { get; set; }
}

/// <summary>An event an app owes another app (<see cref="Target"/>), kept in its record until delivered.</summary>
[GenerateSerializer]
public sealed class AppOutgoing
{
    [Id(0)]
    public string Target { get; set; } = "";

    [Id(1)]
    public string Method { get; set; } = "";

    [Id(2)]
    public string? Data { get; set; }

    [Id(3)]
    public string MessageId { get; set; } = "";
}
