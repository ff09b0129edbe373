namespace Trellis.Core.Persistence;

/// <summary>The life of a silo in the membership table; it only moves forward (Joining → Active → ShuttingDown → Dead).</summary>
public enum SiloStatus
{
    Joining = 0,
    Active = 1,
    ShuttingDown = 2,
    Dead = 3,
}

/// <summary>One silo's row in the membership table; times are on the store clock.</summary>
public sealed record SiloEntry(string SiloId, string Address, DateTimeOffset StartedAt, DateTimeOffset LastHeartbeat, SiloStatus Status);

/// <summary>Every silo row together with the store clock at the time of reading, so callers judge staleness by one clock.</summary>
public sealed record MembershipSnapshot(IReadOnlyList<SiloEntry> Silos, DateTimeOffset Now);
