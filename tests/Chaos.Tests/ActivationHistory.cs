using System.Text.Json;

namespace Trellis.Chaos.Tests;

/// <summary>Activation intervals read back from the silos' activation logs, and the check that one grain was never live
/// twice at once.</summary>
/// <remarks>
/// <para>What "live" means here: an activation may run turns from the moment its start is logged (the runtime raises the
/// event after loading state, before the first call runs) until its end is logged (after the last turn finished). A
/// logged interval therefore contains every instant at which the activation could run a turn; it may be longer, never
/// shorter. An incarnation that was SIGKILLed ends its open activations at the moment the test saw the process gone,
/// which is no earlier than the last thing it ran; a line torn by the kill is treated the same way.</para>
/// <para>All silos run on this machine and stamp their lines with the same wall clock in milliseconds, so stamps of two
/// processes compare. Two intervals whose stamps touch (one ends in the millisecond the other starts) are counted as
/// overlapping, because the truncation to milliseconds could hide a real overlap of less than a millisecond; a genuine
/// hand-over (log the end, release the lease in the database, the next silo acquires it, starts the queue's consumer,
/// loads the state) takes far longer than that.</para>
/// <para>Epochs: each shard lease has an epoch that grows every time the lease changes owner, and an activation carries
/// the epoch its silo held. Ordered by start, the activations of one grain must therefore carry non-decreasing epochs,
/// strictly increasing whenever the silo incarnation changes; a shared or falling epoch means two silos believed they held
/// the same lease, which the time check alone could miss if clocks lied.</para>
/// </remarks>
internal static class ActivationHistory
{
    public sealed record Interval(string Grain, string Silo, long Epoch, long Start, long End, bool EndedByKill);

    public sealed record Report(int Intervals, int Grains, int Moves, int MovedGrains, long? TightestGapMs, List<string> Violations);

    /// <summary>Reads one incarnation's log; activations still open when it died end at <paramref name="endedAt"/>.</summary>
    public static List<Interval> Read(string path, DateTimeOffset endedAt)
    {
        var end = endedAt.ToUnixTimeMilliseconds();
        var intervals = new List<Interval>();
        if (!File.Exists(path))
        {
            return intervals;
        }

        var open = new Dictionary<(string Grain, string Silo), (long Epoch, long Start)>();
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonElement e;
            try
            {
                e = JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException)
            {
                continue; // the last line, torn by the kill: its activation (if any) stays open until the kill
            }

            var key = (e.GetProperty("grain").GetString()!, e.GetProperty("silo").GetString()!);
            var t = e.GetProperty("t").GetInt64();
            if (e.GetProperty("active").GetBoolean())
            {
                if (open.Remove(key, out var unended))
                {
                    // A second start without an end would be a runtime bug; keep the first as ending here, so it still counts.
                    intervals.Add(new Interval(key.Item1, key.Item2, unended.Epoch, unended.Start, t, EndedByKill: false));
                }

                open[key] = (e.GetProperty("epoch").GetInt64(), t);
            }
            else if (open.Remove(key, out var started))
            {
                intervals.Add(new Interval(key.Item1, key.Item2, started.Epoch, started.Start, t, EndedByKill: false));
            }

            // An end without a start is an activation that failed to start (it never ran a turn).
        }

        foreach (var (key, started) in open)
        {
            intervals.Add(new Interval(key.Grain, key.Silo, started.Epoch, started.Start, Math.Max(end, started.Start), EndedByKill: true));
        }

        return intervals;
    }

    /// <summary>Checks every grain's intervals: no two overlap (on any silo), and epochs follow the order of starts.</summary>
    public static Report Check(IReadOnlyCollection<Interval> intervals)
    {
        var violations = new List<string>();
        int grains = 0, moves = 0, movedGrains = 0;
        long? tightest = null;
        foreach (var grain in intervals.GroupBy(i => i.Grain))
        {
            grains++;
            var sorted = grain.OrderBy(i => i.Start).ThenBy(i => i.End).ToList();
            var moved = false;
            for (var i = 0; i < sorted.Count; i++)
            {
                var a = sorted[i];
                for (var j = i + 1; j < sorted.Count && sorted[j].Start <= a.End; j++)
                {
                    violations.Add($"overlap of {a.Grain}: {Describe(a)} and {Describe(sorted[j])}");
                }

                if (i + 1 < sorted.Count)
                {
                    var b = sorted[i + 1];
                    if (b.Silo != a.Silo)
                    {
                        moves++;
                        moved = true;
                        var gap = b.Start - a.End;
                        tightest = tightest is { } t ? Math.Min(t, gap) : gap;
                        if (b.Epoch <= a.Epoch)
                        {
                            violations.Add($"epoch of {a.Grain} did not grow when it moved: {Describe(a)} then {Describe(b)}");
                        }
                    }
                    else if (b.Epoch < a.Epoch)
                    {
                        violations.Add($"epoch of {a.Grain} fell on one silo: {Describe(a)} then {Describe(b)}");
                    }
                }
            }

            movedGrains += moved ? 1 : 0;
        }

        return new Report(intervals.Count, grains, moves, movedGrains, tightest, violations);
    }

    private static string Describe(Interval i) =>
        $"{i.Silo} epoch {i.Epoch} [{i.Start}, {i.End}{(i.EndedByKill ? " killed" : "")}]";
}
