using System.Diagnostics;

namespace Trellis.Bench;

/// <summary>Interleaved A/B rounds and medians: every figure is a ratio against a baseline measured in the
/// same run, so a noisy shared machine moves both sides alike.</summary>
public static class Harness
{
    public static int Rounds { get; set; } = 5;

    /// <summary>The CPUs the bench's peers (wrk, nginx) run on (<c>--peer-cpus 1</c>, as <c>taskset -c</c> takes
    /// them); null: wherever the scheduler puts them. With the bench itself started under <c>taskset -c 0</c>, the
    /// process measured no longer shares its core with its load, so its throughput follows its own cost per request.</summary>
    public static string? PeerCpus { get; set; }

    /// <summary>How to start a peer: the binary itself, or under <c>taskset</c> when <see cref="PeerCpus"/> is set.</summary>
    public static ProcessStartInfo Peer(string binary, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(PeerCpus is null ? binary : "taskset")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (PeerCpus is not null)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(PeerCpus);
            info.ArgumentList.Add(binary);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

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
