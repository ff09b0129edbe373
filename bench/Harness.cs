using System.Diagnostics;

namespace Trellis.Bench;

/// <summary>Interleaved A/B rounds and medians: every figure is a ratio against a baseline measured in the
/// same run, so a noisy shared machine moves both sides alike.</summary>
public static class Harness
{
    public static int Rounds { get; set; } = 5;

    /// <summary>Runs ours and the baseline alternately; each returns a rate (higher is better).</summary>
    public static async Task<(double Ours, double Raw)> InterleaveAsync(Func<Task<double>> ours, Func<Task<double>> raw, int warmups = 1)
    {
        for (var i = 0; i < warmups; i++)
        {
            await ours();
            await raw();
        }

        var a = new List<double>();
        var b = new List<double>();
        for (var i = 0; i < Rounds; i++)
        {
            a.Add(await ours());
            b.Add(await raw());
        }

        return (Median(a), Median(b));
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        values.Sort();
        return values[Math.Min(values.Count - 1, (int)(p * values.Count))];
    }

    public static double Rate(long count, Stopwatch watch) => count / watch.Elapsed.TotalSeconds;

    public static string Fmt(double value) => value switch
    {
        >= 1_000_000 => $"{value / 1_000_000:0.00}M",
        >= 10_000 => $"{value / 1000:0.0}k",
        _ => $"{value:0}",
    };
}
