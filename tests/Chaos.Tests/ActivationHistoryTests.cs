using Xunit;
using static Trellis.Chaos.Tests.ActivationHistory;

namespace Trellis.Chaos.Tests;

/// <summary>The single-activation check itself: it must flag what it claims to flag, or the chaos test proves nothing.</summary>
public sealed class ActivationHistoryTests
{
    [Fact]
    public void A_clean_hand_over_passes_and_counts_as_a_move()
    {
        var report = Check([new("app/a", "s0-x", 1, 100, 200, false), new("app/a", "s1-y", 2, 250, 300, false)]);
        Assert.Empty(report.Violations);
        Assert.Equal(1, report.Moves);
        Assert.Equal(50, report.TightestGapMs);
    }

    [Fact]
    public void Overlapping_activations_on_two_silos_are_flagged()
    {
        var report = Check([new("app/a", "s0-x", 1, 100, 260, true), new("app/a", "s1-y", 2, 250, 300, false)]);
        Assert.Contains(report.Violations, v => v.StartsWith("overlap of app/a", StringComparison.Ordinal));
    }

    [Fact]
    public void Touching_in_one_millisecond_counts_as_overlap()
    {
        // Stamps are truncated to milliseconds, so an end and a start in the same millisecond cannot be ordered.
        var report = Check([new("app/a", "s0-x", 1, 100, 250, false), new("app/a", "s1-y", 2, 250, 300, false)]);
        Assert.Single(report.Violations);
    }

    [Fact]
    public void An_interval_inside_a_long_one_is_flagged_even_when_not_adjacent()
    {
        var report = Check([
            new("app/a", "s0-x", 1, 100, 1000, true),
            new("app/a", "s1-y", 2, 200, 300, false),
            new("app/a", "s2-z", 3, 400, 500, false),
        ]);
        Assert.Equal(2, report.Violations.Count(v => v.StartsWith("overlap", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_move_without_a_newer_epoch_is_flagged_even_without_overlap()
    {
        var report = Check([new("app/a", "s0-x", 2, 100, 200, false), new("app/a", "s1-y", 2, 300, 400, false)]);
        Assert.Contains(report.Violations, v => v.StartsWith("epoch of app/a did not grow", StringComparison.Ordinal));
    }

    [Fact]
    public void Reactivation_on_the_same_silo_under_the_same_lease_passes()
    {
        var report = Check([new("app/a", "s0-x", 3, 100, 200, false), new("app/a", "s0-x", 3, 300, 400, false)]);
        Assert.Empty(report.Violations);
        Assert.Equal(0, report.Moves);
    }

    [Fact]
    public void Reading_a_log_closes_open_activations_at_the_kill_and_skips_a_torn_line()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, [
                """{"t":100,"grain":"app/a","silo":"s0-x","epoch":1,"active":true}""",
                """{"t":150,"grain":"app/b","silo":"s0-x","epoch":1,"active":false}""",
                """{"t":200,"grain":"app/a","silo":"s0-x","epoch":1,"active":false}""",
                """{"t":300,"grain":"app/a","silo":"s0-x","epoch":1,"active":true}""",
                """{"t":310,"grain":"app/c","silo":"s0-x","epoch":1,"act""",
            ]);
            var intervals = Read(path, DateTimeOffset.FromUnixTimeMilliseconds(900));
            Assert.Equal(
                [new Interval("app/a", "s0-x", 1, 100, 200, false), new Interval("app/a", "s0-x", 1, 300, 900, true)],
                intervals.OrderBy(i => i.Start));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
