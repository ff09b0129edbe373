using Trellis.Core.Persistence;
using Trellis.Storage.Sqlite;
using Trellis.TestKit.Persistence;

namespace Trellis.Storage.Tests.Support;

/// <summary>A SQLite store in its own temporary folder, deleted when the store is disposed.</summary>
internal sealed class SqliteTestStore(SqliteStateStore inner, string folder) : IStateStore
{
    public SqliteStateStore Inner => inner;

    public IGrainStorage GrainStorage => inner.GrainStorage;

    public ILeaseTable Leases => inner.Leases;

    public IMembershipTable Membership => inner.Membership;

    public IReminderTable Reminders => inner.Reminders;

    public static string NewFolder() => Path.Combine(Path.GetTempPath(), "trellis-storage-tests", Guid.NewGuid().ToString("N"));

    public static async ValueTask<IStateStore> OpenAsync(StoreSetup setup)
    {
        var folder = NewFolder();
        var options = new SqliteStoreOptions { Path = Path.Combine(folder, "trellis.db"), Grains = setup.GrainOptions };
        return new SqliteTestStore(await SqliteStateStore.OpenAsync(options, setup.Clock), folder);
    }

    /// <summary>A store on the host clock, for the grain runtime suites (leases must expire in real time).</summary>
    public static async ValueTask<IStateStore> OpenRealTimeAsync()
    {
        var folder = NewFolder();
        var options = new SqliteStoreOptions { Path = Path.Combine(folder, "trellis.db") };
        return new SqliteTestStore(await SqliteStateStore.OpenAsync(options, TimeProvider.System), folder);
    }

    public async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        Directory.Delete(folder, recursive: true);
    }
}
