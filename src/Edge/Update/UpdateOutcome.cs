namespace Trellis.Edge.Update;

/// <summary>What an offered build came to.</summary>
public enum UpdateResult
{
    /// <summary>Not for this agent: auto-update off, another arch, not newer, marked bad, or an update already running.</summary>
    Ignored,

    /// <summary>The download failed (network, HTTP status); the build may be offered again.</summary>
    Failed,

    /// <summary>The download did not match the build's size or SHA-256: discarded and marked bad.</summary>
    Rejected,

    /// <summary>The new agent started and said it is ready; this process was asked to exit.</summary>
    Swapped,

    /// <summary>The new agent did not become ready: the previous executable is back and the build is marked bad.</summary>
    RolledBack,
}

/// <summary>An offered build's outcome and why.</summary>
public sealed record UpdateOutcome(UpdateResult Result, string Reason);
