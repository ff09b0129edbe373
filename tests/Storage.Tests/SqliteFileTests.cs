using System.Text;
using Microsoft.Data.Sqlite;
using Trellis.Core.Persistence;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>What only the file-based store has to prove: acknowledged data is on disk, with durable settings, and reopening migrates nothing twice.</summary>
public sealed class SqliteFileTests : IDisposable
{
    private readonly string _folder = SqliteTestStore.NewFolder();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStoreOptions Options => new() { Path = Path.Combine(_folder, "nested", "trellis.db") };

    [Fact]
    public async Task Acknowledged_writes_survive_closing_and_reopening_the_file()
    {
        var startedAt = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var reminder = new ReminderEntry("cart", "k1", "poll", 3, startedAt, TimeSpan.FromMinutes(1), startedAt.AddMinutes(2));
        Lease lease;
        await using (var store = await SqliteStateStore.OpenAsync(Options, cancellationToken: Ct))
        {
            lease = (await store.Leases.TryAcquireAsync(3, "silo-a", TimeSpan.FromHours(1), Ct))!;
            await store.GrainStorage.WriteAsync("cart", "k1", Encoding.UTF8.GetBytes("kept"), 0, lease.Fence, Ct);
            await store.Membership.JoinAsync("silo-a", "host:1", Ct);
            await store.Reminders.UpsertAsync(reminder, Ct);
        }

        await using (var reopened = await SqliteStateStore.OpenAsync(Options, cancellationToken: Ct))
        {
            var state = await reopened.GrainStorage.ReadAsync("cart", "k1", Ct);
            Assert.Equal(("kept", 1L), (Encoding.UTF8.GetString(state.Data!), state.Version));
            Assert.Equal(lease, Assert.Single((await reopened.Leases.ReadAllAsync(Ct)).Leases));
            Assert.Equal("silo-a", Assert.Single((await reopened.Membership.ReadAllAsync(Ct)).Silos).SiloId);
            Assert.Equal(reminder, await reopened.Reminders.ReadAsync("cart", "k1", "poll", Ct));

            // The lease outlived the process, so its fence still admits the next write.
            Assert.Equal(2, await reopened.GrainStorage.WriteAsync("cart", "k1", Encoding.UTF8.GetBytes("next"), 1, lease.Fence, Ct));
        }
    }

    [Fact]
    public async Task The_file_is_in_WAL_mode_and_the_writer_syncs_every_commit()
    {
        await using var store = await SqliteStateStore.OpenAsync(Options, cancellationToken: Ct);

        using var connection = new SqliteConnection($"Data Source={store.FilePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar());
        Assert.Equal(2L, store.Database.WriterSynchronousMode());
    }

    [Fact]
    public async Task Reopening_an_existing_file_applies_each_migration_once()
    {
        await (await SqliteStateStore.OpenAsync(Options, cancellationToken: Ct)).DisposeAsync();
        await using var store = await SqliteStateStore.OpenAsync(Options, cancellationToken: Ct);

        using var connection = new SqliteConnection($"Data Source={store.FilePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT group_concat(name) FROM trellis_migrations;";
        Assert.Equal("001_initial", command.ExecuteScalar());
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }
}
