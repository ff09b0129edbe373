using Trellis.Core.Errors;

namespace Trellis.Core.Persistence;

/// <summary>A grain state write expected a version the store no longer holds; nothing was written.</summary>
public sealed class InconsistentStateException : TrellisException
{
    public InconsistentStateException(string grainType, string grainKey, long expectedVersion, long actualVersion)
        : base(ErrorKind.Aborted, $"State of grain {grainType}/{grainKey} is at version {actualVersion}, but the write expected version {expectedVersion}; re-read the state and retry.")
    {
        GrainType = grainType;
        GrainKey = grainKey;
        ExpectedVersion = expectedVersion;
        ActualVersion = actualVersion;
    }

    public string GrainType { get; }

    public string GrainKey { get; }

    public long ExpectedVersion { get; }

    public long ActualVersion { get; }
}
