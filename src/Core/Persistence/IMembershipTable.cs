namespace Trellis.Core.Persistence;

/// <summary>Which silos exist, where they listen, when they last proved alive, and their status; the input to shard balancing.</summary>
/// <remarks>
/// Heartbeat and join times are taken from the same clock as leases (see <see cref="ILeaseTable"/>). A silo id names one
/// incarnation: once marked <see cref="SiloStatus.Dead"/> it can never heartbeat or change status again, and a restarted
/// process must join under a new id.
/// </remarks>
public interface IMembershipTable
{
    /// <summary>Registers a silo as <see cref="SiloStatus.Joining"/> (or refreshes the address and heartbeat of one that already joined).</summary>
    /// <exception cref="SiloDeclaredDeadException">The id was already declared dead.</exception>
    Task<SiloEntry> JoinAsync(string siloId, string address, CancellationToken cancellationToken = default);

    /// <summary>Records that the silo is alive now; returns false when the silo is unknown or dead.</summary>
    Task<bool> HeartbeatAsync(string siloId, CancellationToken cancellationToken = default);

    /// <summary>Moves the silo to <paramref name="status"/>; returns false when the silo is unknown, dead, or the move would go backwards.</summary>
    Task<bool> SetStatusAsync(string siloId, SiloStatus status, CancellationToken cancellationToken = default);

    /// <summary>Declares a silo dead (for example after it missed heartbeats); returns false when it is unknown or already dead.</summary>
    Task<bool> MarkDeadAsync(string siloId, CancellationToken cancellationToken = default);

    /// <summary>Reads every silo row and the store clock.</summary>
    Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes dead silos whose last heartbeat is older than <paramref name="olderThan"/>; returns how many were removed.</summary>
    Task<int> RemoveDeadAsync(TimeSpan olderThan, CancellationToken cancellationToken = default);
}
