using Trellis.Core.Persistence;
using Trellis.Storage.Tests.Support;
using Trellis.TestKit.Persistence;

namespace Trellis.Storage.Tests;

public sealed class SqliteGrainStorageTests : GrainStorageConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => SqliteTestStore.OpenAsync(setup);
}

public sealed class SqliteLeaseTableTests : LeaseTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => SqliteTestStore.OpenAsync(setup);
}

public sealed class SqliteMembershipTableTests : MembershipTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => SqliteTestStore.OpenAsync(setup);
}

public sealed class SqliteReminderTableTests : ReminderTableConformance
{
    protected override ValueTask<IStateStore> OpenStoreAsync(StoreSetup setup) => SqliteTestStore.OpenAsync(setup);
}
