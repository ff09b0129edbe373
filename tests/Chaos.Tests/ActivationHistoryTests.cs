using Xunit;
using static Trellis.Chaos.Tests.ActivationHistory;

namespace Trellis.Chaos.Tests;

/// <summary>The overlap count itself: it must find what it claims to find, or the chaos test reports nothing.</summary>
public sealed class ActivationHistoryTests
{
    [Fact]
    public void A_clean_hand_over_is_a_move_and_no_overlap()
    {
        var report = Check([new("app/a", "s0", 100, 200, false), new("app/a", "s1", 250, 300, false)]);
        Assert.Empty(report.Overlaps);
        Assert.Equal(1, report.Moves);
        Assert.Equal(1, report.MovedGrains);
    }

    [Fact]
    public void Overlapping_activations_on_two_silos_are_counted()
    {
        var report = Check([new("app/a", "s0", 100, 260, true), new("app/a", "s1", 250, 300, false)]);
        Assert.Single(report.Overlaps);
        Assert.Equal(1, report.OverlappingGrains);
    }

    [Fact]
    public void Touching_in_one_millisecond_counts_as_overlap()
    {
        // Stamps are truncated to milliseconds, so an end and a start in the same millisecond cannot be ordered.
        var report = Check([new("app/a", "s0", 100, 250, false), new("app/a", "s1", 250, 300, false)]);
        Assert.Single(report.Overlaps);
    }

    [Fact]
    public void An_interval_inside_a_long_one_is_counted_even_when_not_adjacent()
    {
        var report = Check([
            new("app/a", "s0", 100, 1000, true),
            new("app/a", "s1", 200, 300, false),
            new("app/a", "s2", 400, 500, false),
        ]);
        Assert.Equal(2, report.Overlaps.Count);
        Assert.Equal(1, report.OverlappingGrains);
    }

    [Fact]
    public void Reactivation_on_the_same_silo_is_neither_a_move_nor_an_overlap()
    {
        var report = Check([new("app/a", "s0", 100, 200, false), new("app/a", "s0", 200, 400, false)]);
        Assert.Empty(report.Overlaps);
        Assert.Equal(0, report.Moves);
    }

    [Fact]
    public void Reading_a_log_closes_open_activations_at_the_kill_and_skips_a_torn_line()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, [
                """{"t":100,"grain":"app/a","silo":"S127.0.0.1:1:1","active":true}""",
                """{"t":150,"grain":"app/b","silo":"S127.0.0.1:1:1","active":false}""",
                """{"t":200,"grain":"app/a","silo":"S127.0.0.1:1:1","active":false}""",
                """{"t":300,"grain":"app/a","silo":"S127.0.0.1:1:1","active":true}""",
                """{"t":310,"grain":"app/c","silo":"S127.0.0.1:1:1","act""",
            ]);
            var intervals = Read(path, DateTimeOffset.FromUnixTimeMilliseconds(900));
            Assert.Equal(
                [new Interval("app/a", "S127.0.0.1:1:1", 100, 200, false), new Interval("app/a", "S127.0.0.1:1:1", 300, 900, true)],
                intervals.OrderBy(i => i.Start));
            Assert.Equal(["app/a"], ActiveAt(intervals, 400));
            Assert.Empty(ActiveAt(intervals, 250));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
