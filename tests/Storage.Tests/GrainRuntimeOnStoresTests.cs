using Trellis.Core.Persistence;
using Trellis.Storage.Tests.Support;
using Trellis.TestKit.Grains;

namespace Trellis.Storage.Tests;

public sealed class SqliteGrainRuntimeTests : GrainRuntimeSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => SqliteTestStore.OpenRealTimeAsync();
}

public sealed class SqlitePlacementTests : PlacementSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => SqliteTestStore.OpenRealTimeAsync();
}

public sealed class SqliteAppTests : AppSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => SqliteTestStore.OpenRealTimeAsync();
}

public sealed class PostgresGrainRuntimeTests : GrainRuntimeSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => PostgresTestStore.OpenRealTimeAsync();
}

public sealed class PostgresPlacementTests : PlacementSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => PostgresTestStore.OpenRealTimeAsync();
}

public sealed class PostgresAppTests : AppSuite
{
    protected override ValueTask<IStateStore> OpenStoreAsync() => PostgresTestStore.OpenRealTimeAsync();
}
