namespace Trellis.Core.Persistence;

/// <summary>What a store holds for one grain: its state bytes (null when never written or cleared) and the version to pass to the next write.</summary>
/// <remarks>
/// Versions start at 0 (nothing stored) and every successful write or clear adds one, so a cleared grain keeps
/// counting: an old writer holding a pre-clear version can never match again (no ABA).
/// </remarks>
public readonly record struct StoredState(byte[]? Data, long Version)
{
    /// <summary>True when the grain has state (possibly zero bytes long); false when it was never written or was cleared.</summary>
    public bool Exists => Data is not null;
}
