using Orleans.Runtime;

namespace Trellis.Grains.Apps;

/// <summary>The Orleans stream of an app's events for client watchers: one stream per app, numbered 1, 2, 3, … by the app.</summary>
/// <remarks>Every silo and client registers a stream provider named <see cref="Provider"/>: Orleans' memory streams in one
/// process, the ADO.NET provider on PostgreSQL in a cluster. Watchers check the numbers, so a missed event ends the watch
/// with a kick instead of going unnoticed.</remarks>
public static class AppStreams
{
    /// <summary>The stream provider's name.</summary>
    public const string Provider = "apps";

    /// <summary>The stream namespace of apps' events.</summary>
    public const string Namespace = "trellis.apps";

    public static StreamId Id(string app) => StreamId.Create(Namespace, app);
}

/// <summary>An event of an app for its client watchers: a fact on <see cref="Path"/> (for every watcher of that path) or a kick
/// of one watcher (<see cref="Subscriber"/>).</summary>
/// <param name="Seq">The app's number for it: one more than the event before it on the app's stream.</param>
/// <param name="Kind"><c>fact</c> or <c>kick</c>.</param>
/// <param name="Data">JSON text, or null.</param>
[GenerateSerializer, Immutable]
public sealed record AppStreamEvent(
    [property: Id(0)] long Seq, [property: Id(1)] string Kind, [property: Id(2)] string Path, [property: Id(3)] string? Subscriber, [property: Id(4)] string? Data);
