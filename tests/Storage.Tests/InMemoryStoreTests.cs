using Trellis.Core.Persistence;
using Trellis.TestKit.Persistence;

namespace Trellis.Storage.Tests;

public sealed class InMemoryGrainStorageTests : GrainStorageConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => new(new InMemoryStateStore(setup.Clock, setup.GrainOptions));
}

public sealed class InMemoryLeaseTableTests : LeaseTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => new(new InMemoryStateStore(setup.Clock, setup.GrainOptions));
}

public sealed class InMemoryMembershipTableTests : MembershipTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => new(new InMemoryStateStore(setup.Clock, setup.GrainOptions));
}

public sealed class InMemoryReminderTableTests : ReminderTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => new(new InMemoryStateStore(setup.Clock, setup.GrainOptions));
}
