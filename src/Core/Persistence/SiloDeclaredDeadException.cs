using Trellis.Core.Errors;

namespace Trellis.Core.Persistence;

/// <summary>A silo tried to join under an id that was already declared dead; it must join under a new id.</summary>
public sealed class SiloDeclaredDeadException : TrellisException
{
    public SiloDeclaredDeadException(string siloId)
        : base(ErrorKind.FailedPrecondition, $"Silo '{siloId}' was declared dead and cannot rejoin; start it under a new silo id.")
        => SiloId = siloId;

    public string SiloId { get; }
}
