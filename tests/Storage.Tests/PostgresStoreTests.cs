using Trellis.Core.Persistence;
using Trellis.Storage.Tests.Support;
using Trellis.TestKit.Persistence;

namespace Trellis.Storage.Tests;

public sealed class PostgresGrainStorageTests : GrainStorageConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => PostgresTestStore.OpenAsync(setup);
}

public sealed class PostgresLeaseTableTests : LeaseTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => PostgresTestStore.OpenAsync(setup);
}

public sealed class PostgresMembershipTableTests : MembershipTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => PostgresTestStore.OpenAsync(setup);
}

public sealed class PostgresReminderTableTests : ReminderTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => PostgresTestStore.OpenAsync(setup);
}
