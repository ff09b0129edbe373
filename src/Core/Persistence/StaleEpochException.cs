using Trellis.Core.Errors;

namespace Trellis.Core.Persistence;

/// <summary>A fenced write was refused because its shard lease is no longer held by the fence's owner and epoch; nothing was written.</summary>
public sealed class StaleEpochException : TrellisException
{
    public StaleEpochException(FenceToken fence, string? currentOwner, long? currentEpoch)
        : base(ErrorKind.FailedPrecondition, Describe(fence, currentOwner, currentEpoch))
    {
        Fence = fence;
        CurrentOwner = currentOwner;
        CurrentEpoch = currentEpoch;
    }

    /// <summary>The fence the refused write carried.</summary>
    public FenceToken Fence { get; }

    /// <summary>The owner the lease names now; null when there is no lease row, empty when it was released.</summary>
    public string? CurrentOwner { get; }

    /// <summary>The epoch the lease has now; null when there is no lease row.</summary>
    public long? CurrentEpoch { get; }

    private static string Describe(FenceToken fence, string? owner, long? epoch) => owner switch
    {
        null => $"Write refused: no lease exists for shard {fence.Shard} (write carried {fence}).",
        "" => $"Write refused: the lease of shard {fence.Shard} was released at epoch {epoch} (write carried {fence}).",
        _ => $"Write refused: shard {fence.Shard} is held by '{owner}' at epoch {epoch} (write carried {fence}).",
    };
}
