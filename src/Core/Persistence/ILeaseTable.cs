namespace Trellis.Core.Persistence;

/// <summary>Shard leases: at most one owner per shard at a time, with an epoch that fences writes of earlier owners.</summary>
/// <remarks>
/// <para>A lease is held while the store clock is before <see cref="Lease.ExpiresAt"/> and it is not released.
/// Which clock decides: the PostgreSQL store uses the database server's clock (<c>clock_timestamp()</c>) so silos with
/// skewed clocks agree; the SQLite store uses its injected <see cref="TimeProvider"/> (the host clock by default: an
/// embedded file is only shared by processes on one host); the in-memory store uses its injected <see cref="TimeProvider"/>.</para>
/// <para>The epoch increments on every acquisition of a lease that is not currently held by the same owner (free,
/// released, expired, or held by another), so it changes on every change of owner and also when an owner comes back
/// after losing the lease. Grain writes check owner and epoch only, not expiry: a lapsed lease that nobody took yet
/// still excludes every other writer, because taking it changes the epoch.</para>
/// </remarks>
public interface ILeaseTable
{
    /// <summary>Acquires the lease of <paramref name="shard"/> for <paramref name="owner"/> when it is free, released, expired,
    /// or already held by this owner (then it is extended and keeps its epoch); returns null when another owner holds it.</summary>
    Task<Lease?> TryAcquireAsync(int shard, string owner, TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Extends a held lease to now + <paramref name="ttl"/>; returns null when it was lost (expired, released, or taken: owner or epoch differ).</summary>
    Task<Lease?> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Releases the lease so others may take it at once; returns false when <paramref name="lease"/> no longer matches the row (owner or epoch).</summary>
    Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken = default);

    /// <summary>Reads every lease row (including released and expired ones) and the store clock.</summary>
    Task<LeaseSnapshot> ReadAllAsync(CancellationToken cancellationToken = default);
}
