namespace Trellis.Core.Persistence;

/// <summary>Durable, versioned and fenced grain state.</summary>
/// <remarks>
/// <para>A grain is identified by two strings (the <c>Type</c> and <c>Key</c> of its GrainId) so this layer does not depend on the runtime.</para>
/// <para>Every mutation checks, atomically with the write, that the version still equals <c>expectedVersion</c>
/// (else <see cref="InconsistentStateException"/>) and that the shard lease still names the fence's owner and epoch
/// (else <see cref="StaleEpochException"/>); a failed check writes nothing. A returned task completes only after the
/// change is durable (committed with fsync). Concurrent writes may be committed together in one transaction; each is
/// still checked on its own and a failing one fails only itself. Writes issued one after another without awaiting
/// are applied in issue order, so one activation may pipeline them.</para>
/// </remarks>
public interface IGrainStorage
{
    /// <summary>Reads the state of a grain; a grain never written reads as no data with version 0.</summary>
    Task<StoredState> ReadAsync(string grainType, string grainKey, CancellationToken cancellationToken = default);

    /// <summary>Replaces the state of a grain and returns its new version (expectedVersion + 1).</summary>
    /// <remarks>The <paramref name="state"/> buffer must not change until the returned task completes.</remarks>
    Task<long> WriteAsync(string grainType, string grainKey, ReadOnlyMemory<byte> state, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default);

    /// <summary>Removes the state of a grain and returns its new version (expectedVersion + 1); later reads see no data.</summary>
    Task<long> ClearAsync(string grainType, string grainKey, long expectedVersion, FenceToken fence, CancellationToken cancellationToken = default);
}
