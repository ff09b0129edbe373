using System.Diagnostics;
using Trellis.Core.Transport.InMemory;

namespace Trellis.Bench.Kernel;

/// <summary>P7: the cost of routing one topic (uncached) with 1k and with 100k subscriptions, half exact
/// topics and half wildcard patterns (trailing <c>*</c>, <c>*</c> inside a word, and a few catch-alls).</summary>
public static class P7
{
    private const int Lookups = 200_000;

    public static Task<int> RunAsync(string[] args)
    {
        var small = Build(1_000);
        var large = Build(100_000);

        // The goal's workload: the same hot topics routed while 1k or 100k subscriptions are held.
        var hot = Topics(1_000);
        var (costSmall, costLarge) = Compare(small, hot, large, hot);
        Console.WriteLine($"P7 routing cost per lookup, same hot topics: 1k subs={costSmall:0} ns 100k subs={costLarge:0} ns ratio={costLarge / costSmall:0.00}x (goal <= 2x)");

        // Also shown: topics spread over every subscription, where the 100k tables no longer fit in cache.
        var (spreadSmall, spreadLarge) = Compare(small, Topics(1_000), large, Topics(100_000));
        Console.WriteLine($"P7 routing cost per lookup, topics spread over all subs: 1k subs={spreadSmall:0} ns 100k subs={spreadLarge:0} ns ratio={spreadLarge / spreadSmall:0.00}x");
        return Task.FromResult(0);
    }

    private static (double Small, double Large) Compare(TopicRouter<object> small, string[] smallTopics, TopicRouter<object> large, string[] largeTopics)
    {
        var perSmall = new List<double>();
        var perLarge = new List<double>();
        Measure(small, smallTopics);
        Measure(large, largeTopics);
        for (var i = 0; i < Harness.Rounds; i++)
        {
            perSmall.Add(Measure(small, smallTopics));
            perLarge.Add(Measure(large, largeTopics));
        }

        return (Harness.Median(perSmall), Harness.Median(perLarge));
    }

    private static TopicRouter<object> Build(int subscriptions)
    {
        var router = new TopicRouter<object>();
        for (var i = 0; i < subscriptions; i++)
        {
            var pattern = (i % 4) switch
            {
                0 or 1 => $"svc.{i}.op",
                2 => $"evt.{i}.*",
                _ => $"evt.{i}.or*ers",
            };
            router.Add(pattern, new object());
        }

        // A handful of catch-all patterns every lookup must test, in both sizes.
        for (var i = 0; i < 5; i++)
        {
            router.Add($"*.audit{i}", new object());
        }

        return router;
    }

    private static string[] Topics(int subscriptions)
    {
        var random = new Random(42);
        return Enumerable.Range(0, 4096).Select(_ =>
        {
            var i = random.Next(subscriptions);
            return (i % 4) switch
            {
                0 or 1 => $"svc.{i}.op",
                2 => $"evt.{i}.created.v1",
                _ => $"evt.{i}.orders",
            };
        }).ToArray();
    }

    /// <summary>Nanoseconds per uncached lookup.</summary>
    private static double Measure(TopicRouter<object> router, string[] topics)
    {
        var matched = 0L;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Lookups; i++)
        {
            matched += router.RouteUncached(topics[i & 4095]).Length;
        }

        watch.Stop();
        if (matched < Lookups)
        {
            throw new InvalidOperationException($"routing lost matches: {matched} for {Lookups} lookups");
        }

        return watch.Elapsed.TotalNanoseconds / Lookups;
    }
}
