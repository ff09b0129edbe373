namespace Trellis.Core.Persistence;

/// <summary>A shard lease as the store recorded it: who holds the shard, under which epoch, until when (store clock).</summary>
/// <remarks>
/// <see cref="ExpiresAt"/> is on the clock of the store that decides expiry (see <see cref="ILeaseTable"/>). A holder
/// should not compare it with its own clock; it should stop acting at (local time the request was sent + ttl), which is
/// never later than the store's expiry.
/// </remarks>
/// <param name="Shard">The shard number.</param>
/// <param name="Owner">The holder; empty when the lease was released.</param>
/// <param name="Epoch">Increments every time the lease is acquired anew, so writes fenced with an older epoch are refused.</param>
/// <param name="ExpiresAt">The instant (store clock) from which the lease is free for others.</param>
public sealed record Lease(int Shard, string Owner, long Epoch, DateTimeOffset ExpiresAt)
{
    /// <summary>The fence that writes made under this lease must carry.</summary>
    public FenceToken Fence => new(Shard, Epoch, Owner);

    /// <summary>True when the lease is held (not released) and not yet expired at <paramref name="now"/> (store clock).</summary>
    public bool IsHeldAt(DateTimeOffset now) => Owner.Length > 0 && now < ExpiresAt;
}

/// <summary>Every lease row together with the store clock at the time of reading, so callers judge expiry by the clock that decides it.</summary>
public sealed record LeaseSnapshot(IReadOnlyList<Lease> Leases, DateTimeOffset Now);
