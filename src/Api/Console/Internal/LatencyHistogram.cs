namespace Trellis.Api.Console.Internal;

/// <summary>Counts of durations in log-spaced buckets (each 8 % wider than the one before, from 10 µs to about 17 minutes),
/// so percentiles come out within a few percent without keeping samples.</summary>
internal sealed class LatencyHistogram
{
    private const double Smallest = 1e-5;
    private const int BucketCount = 240;
    private static readonly double LogGrowth = Math.Log(1.08);

    private readonly long[] _buckets = new long[BucketCount];

    public long Count { get; private set; }

    public void Record(double seconds)
    {
        var index = seconds <= Smallest ? 0 : Math.Min(BucketCount - 1, (int)Math.Ceiling(Math.Log(seconds / Smallest) / LogGrowth));
        _buckets[index]++;
        Count++;
    }

    /// <summary>The upper bound of the bucket holding the <paramref name="quantile"/> (0..1) of the durations, in seconds;
    /// 0 when nothing was recorded.</summary>
    public double Quantile(double quantile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(quantile * Count);
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _buckets[i];
            if (seen >= rank && _buckets[i] > 0)
            {
                return Smallest * Math.Exp(i * LogGrowth);
            }
        }

        return Smallest * Math.Exp((BucketCount - 1) * LogGrowth);
    }

    public void Clear()
    {
        Array.Clear(_buckets);
        Count = 0;
    }
}
