using Trellis.Core.Persistence;

namespace Trellis.Storage.Internal;

/// <summary>Turns what a refused write found in the store into the exception its caller gets.</summary>
internal static class Refusal
{
    /// <remarks>The fence is reported first: for a writer that lost its shard, the version it sees is beside the point.</remarks>
    public static Exception Explain(string grainType, string grainKey, long expectedVersion, FenceToken fence, long currentVersion, string? leaseOwner, long? leaseEpoch)
        => leaseOwner != fence.Owner || leaseEpoch != fence.Epoch
            ? new StaleEpochException(fence, leaseOwner, leaseEpoch)
            : new InconsistentStateException(grainType, grainKey, expectedVersion, currentVersion);
}
