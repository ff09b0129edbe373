using System.Text.Json;

namespace Trellis.Chaos.Tests;

/// <summary>Activation intervals read back from the silos' activation logs (<c>Trellis:Grains:ActivationLog</c>), and
/// the overlapping activations among them: one app active on two silos at once.</summary>
/// <remarks>
/// <para>What "active" means here: an activation may run turns from the moment its start is logged (Orleans calls
/// <c>OnActivateAsync</c> after loading the state, before the first call) until its end is logged (<c>OnDeactivateAsync</c>,
/// after the last call). A logged interval therefore contains every instant at which the activation could run a turn;
/// it may be longer, never shorter. An incarnation that was SIGKILLed ends its open activations at the moment the test
/// saw the process gone, which is no earlier than the last thing it ran; a line torn by the kill is skipped (each line
/// is one unbuffered append, so only the last can be torn).</para>
/// <para>All silos run on this machine and stamp their lines with the same wall clock in milliseconds, so stamps of two
/// processes compare. Two intervals whose stamps touch (one ends in the millisecond the other starts) count as
/// overlapping: the truncation to milliseconds could hide a real overlap of less than one.</para>
/// <para>Silos run Orleans' strongly consistent grain directory, which promises a single activation while membership
/// changes, so the chaos test forbids overlaps. (With the default, eventually consistent directory they happened: a
/// stale activation's writes were refused by the state's ETag, but it could still answer reads from its old record.)</para>
/// </remarks>
internal static class ActivationHistory
{
    public sealed record Interval(string Grain, string Silo, long Start, long End, bool EndedByKill);

    public sealed record Overlap(Interval First, Interval Second)
    {
        public override string ToString() => $"{First.Grain}: {Describe(First)} and {Describe(Second)}";
    }

    public sealed record Report(int Intervals, int Grains, int Moves, int MovedGrains, List<Overlap> Overlaps)
    {
        /// <summary>Apps that had at least one overlap.</summary>
        public int OverlappingGrains => Overlaps.Select(o => o.First.Grain).Distinct().Count();
    }

    /// <summary>Reads one incarnation's log; activations still open when it died end at <paramref name="endedAt"/>.</summary>
    public static List<Interval> Read(string path, DateTimeOffset endedAt)
    {
        var end = endedAt.ToUnixTimeMilliseconds();
        var intervals = new List<Interval>();
        if (!File.Exists(path))
        {
            return intervals;
        }

        var open = new Dictionary<(string Grain, string Silo), long>();
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
                    intervals.Add(new Interval(key.Item1, key.Item2, unended, t, EndedByKill: false));
                }

                open[key] = t;
            }
            else if (open.Remove(key, out var started))
            {
                intervals.Add(new Interval(key.Item1, key.Item2, started, t, EndedByKill: false));
            }

            // An end without a start is an activation that failed to start (it never ran a turn).
        }

        foreach (var (key, started) in open)
        {
            intervals.Add(new Interval(key.Grain, key.Silo, started, Math.Max(end, started), EndedByKill: true));
        }

        return intervals;
    }

    /// <summary>The apps active in a log at <paramref name="at"/> (unix ms): started before it and not ended before it.</summary>
    public static HashSet<string> ActiveAt(IEnumerable<Interval> intervals, long at) =>
        intervals.Where(i => i.Start <= at && i.End >= at).Select(i => i.Grain).ToHashSet();

    /// <summary>Every pair of one app's intervals on two silos that overlap or touch, and how often apps moved.</summary>
    public static Report Check(IReadOnlyCollection<Interval> intervals)
    {
        var overlaps = new List<Overlap>();
        int grains = 0, moves = 0, movedGrains = 0;
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
                    if (sorted[j].Silo != a.Silo)
                    {
                        overlaps.Add(new Overlap(a, sorted[j]));
                    }
                }

                if (i + 1 < sorted.Count && sorted[i + 1].Silo != a.Silo)
                {
                    moves++;
                    moved = true;
                }
            }

            movedGrains += moved ? 1 : 0;
        }

        return new Report(intervals.Count, grains, moves, movedGrains, overlaps);
    }

    private static string Describe(Interval i) => $"{i.Silo} [{i.Start}, {i.End}{(i.EndedByKill ? " killed" : "")}]";
}
