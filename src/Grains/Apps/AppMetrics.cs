using System.Diagnostics.Metrics;
using Trellis.Core.Diagnostics;

namespace Trellis.Grains.Apps;

/// <summary>Apps' instruments on the <c>Trellis</c> meter: pokes answered by the app grains of this silo, and the watch
/// streams this gateway serves.</summary>
public static class AppMetrics
{
    public const string Ack = "ack";
    public const string Nack = "nack";

    /// <summary>Pokes an app answered, by agent and result (<c>ack</c> or <c>nack</c>); recorded where the grain runs.</summary>
    public static readonly Counter<long> Pokes = TrellisTelemetry.Meter.CreateCounter<long>(
        "trellis.app.pokes", "{poke}", "Pokes answered by the apps of this process, by agent and result");

    /// <summary>Watch streams open in this process (SSE and gRPC), by agent.</summary>
    public static readonly UpDownCounter<long> Watchers = TrellisTelemetry.Meter.CreateUpDownCounter<long>(
        "trellis.app.watchers", "{watcher}", "Watch streams of apps open in this process");

    /// <summary>Counts a poke answered by an app running <paramref name="agent"/>.</summary>
    public static void Poked(string? agent, bool acked)
    {
        if (Pokes.Enabled)
        {
            Pokes.Add(
                1,
                new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Agent, agent),
                new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Result, acked ? Ack : Nack));
        }
    }

    /// <summary>Counts a watch stream opening (+1) or closing (-1).</summary>
    public static void Watching(string? agent, int change)
    {
        // Recorded whether or not anyone listens now, so a listener that starts later never sees a close without its open.
        Watchers.Add(change, new KeyValuePair<string, object?>(TrellisTelemetry.Tags.Agent, agent));
    }
}
