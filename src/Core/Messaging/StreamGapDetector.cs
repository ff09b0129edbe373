namespace Trellis.Core.Messaging;

/// <summary>What a watcher should do with an event, given the number its producer gave it on its stream.</summary>
public enum SequenceVerdict
{
    /// <summary>The next number: deliver it.</summary>
    Next,

    /// <summary>A number already seen (a persistent stream redelivers after a silo dies): drop it.</summary>
    Repeat,

    /// <summary>Numbers are missing before this one: the watcher lost events and must be kicked, never carried on.</summary>
    Gap,
}

/// <summary>Checks the per-stream numbers a producer puts in its events (1, 2, 3, …) as a watcher receives them.</summary>
/// <remarks>
/// A watcher that misses events is kicked, never silently skipped. Orleans' sequence tokens cannot tell: the
/// ADO.NET provider's token is the row's id from one database sequence shared by every stream and queue, so it grows
/// along a stream but with holes. The producer's own number can. Not thread-safe: one per subscription, whose
/// deliveries Orleans serializes.
/// </remarks>
public sealed class StreamGapDetector(long last = 0)
{
    /// <summary>The last number delivered; 0 before the first.</summary>
    public long Last { get; private set; } = last;

    /// <summary>Classifies <paramref name="number"/>; only <see cref="SequenceVerdict.Next"/> advances <see cref="Last"/>.</summary>
    public SequenceVerdict Observe(long number)
    {
        if (number <= Last)
        {
            return SequenceVerdict.Repeat;
        }

        if (number != Last + 1)
        {
            return SequenceVerdict.Gap;
        }

        Last = number;
        return SequenceVerdict.Next;
    }
}
