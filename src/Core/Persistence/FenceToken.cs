namespace Trellis.Core.Persistence;

/// <summary>Proof of shard ownership that every state write carries: the write lands only while the lease still names this owner and epoch.</summary>
/// <param name="Shard">The shard the grain belongs to (the caller computes it from the grain id).</param>
/// <param name="Epoch">The lease epoch the owner was granted; it changes whenever the lease is acquired anew.</param>
/// <param name="Owner">The lease holder, usually a silo id.</param>
public readonly record struct FenceToken(int Shard, long Epoch, string Owner)
{
    public override string ToString() => $"shard {Shard} epoch {Epoch} owner '{Owner}'";
}
