namespace Trellis.Core.Persistence;

/// <summary>One state store (in-memory, SQLite or PostgreSQL) offering the four tables the grain runtime stands on.</summary>
/// <remarks>Grain state and leases live in one store because a fenced write checks the lease in the same transaction.</remarks>
public interface IStateStore : IAsyncDisposable
{
    IGrainStorage GrainStorage { get; }

    ILeaseTable Leases { get; }

    IMembershipTable Membership { get; }

    IReminderTable Reminders { get; }
}
