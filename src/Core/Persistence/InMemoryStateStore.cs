namespace Trellis.Core.Persistence;

/// <summary>All four tables in process memory: the development and test store that needs no server.</summary>
public sealed class InMemoryStateStore : IStateStore
{
    public InMemoryStateStore(TimeProvider? timeProvider = null, GrainStorageOptions? grainOptions = null)
    {
        var leases = new InMemoryLeaseTable(timeProvider);
        Leases = leases;
        GrainStorage = new InMemoryGrainStorage(leases, grainOptions);
        Membership = new InMemoryMembershipTable(timeProvider);
        Reminders = new InMemoryReminderTable();
    }

    public IGrainStorage GrainStorage { get; }

    public ILeaseTable Leases { get; }

    public IMembershipTable Membership { get; }

    public IReminderTable Reminders { get; }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
