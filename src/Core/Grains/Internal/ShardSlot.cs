using Trellis.Core.Bus;
using Trellis.Core.Persistence;

namespace Trellis.Core.Grains.Internal;

/// <summary>A shard this silo holds the lease of: the lease, until when it may act on it, its queue consumer, its reminders.</summary>
/// <remarks>
/// The silo acts on a shard only until <see cref="ValidUntil"/>: the local time the last successful acquire or renew was
/// sent plus the lease's time to live. That is never later than the store's own expiry, so another silo can only take
/// the shard after this one has stopped acting on it (no two live activations of one grain).
/// </remarks>
internal sealed class ShardSlot(int number, Lease lease, long validUntil)
{
    private readonly CancellationTokenSource _stopping = new();
    private volatile bool _lost;

    public int Number { get; } = number;

    public Lease Lease { get; set; } = lease;

    /// <summary>The timestamp after which this silo must stop acting on the shard unless a renewal succeeded.</summary>
    public long ValidUntil { get; set; } = validUntil;

    /// <summary>The timestamp of the last renewal attempt.</summary>
    public long RenewedAt { get; set; }

    /// <summary>The shard queue's consumer, once it was allowed to start.</summary>
    public Subscription? Consumer { get; set; }

    /// <summary>True while the silo hands the shard over: new calls go back to the queue for the next owner.</summary>
    public volatile bool HandingOver;

    /// <summary>Reminders of the shard's grains, by (type, key, name); guarded by locking the dictionary.</summary>
    public Dictionary<(string Type, string Key, string Name), ReminderEntry> Reminders { get; } = [];

    /// <summary>Reminders being fired now (so a slow one is not fired twice).</summary>
    public HashSet<(string Type, string Key, string Name)> Firing { get; } = [];

    public bool IsLost => _lost;

    /// <summary>Cancelled when the shard is lost: turns should stop and must not write.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public bool AcceptsWork(long now) => !_lost && !HandingOver && now < ValidUntil;

    public void ThrowIfLost()
    {
        if (_lost)
        {
            throw new ShardLostException(Number, "its lease was lost");
        }
    }

    /// <summary>The fence for a state write; throws when the shard is lost.</summary>
    public FenceToken FenceForWrite()
    {
        ThrowIfLost();
        return Lease.Fence;
    }

    public void MarkLost()
    {
        _lost = true;
        try
        {
            _stopping.Cancel();
        }
        catch (AggregateException)
        {
            // Callbacks registered by grains threw; the shard is lost regardless.
        }
    }
}
