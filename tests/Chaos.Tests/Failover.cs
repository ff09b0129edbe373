namespace Trellis.Chaos.Tests;

/// <summary>A SIGKILL of a silo: when the test saw the process gone (unix ms), the apps that had an activation on it then
/// (from its activation log), and how long the kill waited past its time for it and another silo to be active.</summary>
internal sealed record Kill(int Number, string Silo, long At, IReadOnlySet<string> Apps, TimeSpan Waited);

/// <summary>An acknowledged poke as the driver saw it.</summary>
internal sealed record Poke(string App, string Id, long FirstSentAt, long SentAt, long AckedAt, bool Duplicate);

/// <summary>What one kill cost the pokes it caught.</summary>
/// <param name="Samples">Pokes measured: to an app active on the killed silo, under way at the kill or started within
/// <see cref="Failover.Window"/> of it, acknowledged by an attempt sent after it.</param>
/// <param name="First">From the kill to the first of their acknowledgements.</param>
/// <param name="Worst">From the kill to the last of them: the kill's failover time.</param>
internal sealed record FailoverTime(Kill Kill, int Samples, TimeSpan? First, TimeSpan? Worst);

/// <summary>Failover time measured end to end, from the acknowledgements.</summary>
/// <remarks>An app whose activation died with the silo cannot answer until Orleans has declared that silo dead (or its
/// restarted incarnation has retired it) and the app is activated again, on a surviving silo or the restarted one. A poke
/// to such an app that was under way at the kill, or sent within <see cref="Window"/> after it, waits for exactly that;
/// the time from the kill to its acknowledgement is what a client saw. A kill's failover is the worst of these, so a slow
/// activation or a retry backing off counts against it. Pokes started later are left out: the time until an app is next
/// poked at all says nothing about the failover.</remarks>
internal static class Failover
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    public static FailoverTime Measure(Kill kill, ILookup<string, Poke> pokesByApp)
    {
        var window = (long)Window.TotalMilliseconds;
        var samples = new List<long>();
        foreach (var app in kill.Apps)
        {
            foreach (var poke in pokesByApp[app])
            {
                if (poke.SentAt > kill.At && poke.FirstSentAt <= kill.At + window)
                {
                    samples.Add(poke.AckedAt - kill.At);
                }
            }
        }

        return samples.Count == 0
            ? new FailoverTime(kill, 0, null, null)
            : new FailoverTime(kill, samples.Count, TimeSpan.FromMilliseconds(samples.Min()), TimeSpan.FromMilliseconds(samples.Max()));
    }

    /// <summary>"min / median / max" of the kills' failover times.</summary>
    public static string Distribution(IReadOnlyCollection<TimeSpan> times)
    {
        if (times.Count == 0)
        {
            return "n/a";
        }

        var sorted = times.Order().ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        return $"min {sorted[0].TotalSeconds:F2} s, median {median.TotalSeconds:F2} s, max {sorted[^1].TotalSeconds:F2} s";
    }
}
