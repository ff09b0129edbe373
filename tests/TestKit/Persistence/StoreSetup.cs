using Trellis.Core.Persistence;

namespace Trellis.TestKit.Persistence;

/// <summary>What a conformance suite asks of the store it opens: the clock to take time from (if the store takes time from a TimeProvider) and the grain write limits.</summary>
public sealed record StoreSetup(ManualTimeProvider Clock, GrainStorageOptions GrainOptions);

/// <summary>Implemented by test stores whose time is the database server's clock, which tests cannot move.</summary>
public interface IDatabaseClockStore
{
    /// <summary>A lease ttl short enough to wait out in real time, long enough to stay held across a few statements.</summary>
    TimeSpan ShortLeaseTtl { get; }

    /// <summary>Completes once the store's clock has passed <paramref name="instant"/>.</summary>
    ValueTask WaitUntilAsync(DateTimeOffset instant, CancellationToken cancellationToken);
}
