using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace Trellis.Storage.Tests;

/// <summary>The group-commit writer of the SQL stores: batches form while the writer is busy, each write keeps its own outcome, and the queue pushes back.</summary>
/// <remarks>Instead of timing, the tests hold the writer inside its first batch, queue the next batch, then let it go.</remarks>
public abstract class GroupCommitTests : IAsyncLifetime
{
    private const string Type = "counter";
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);
    private readonly List<Func<ValueTask>> _cleanup = [];

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Opens a fresh store and the probe of its writer loop.</summary>
    private protected abstract ValueTask<(IStateStore Store, IGroupCommitProbe Probe)> OpenAsync(GrainStorageOptions options);

    /// <summary>Makes the database itself fail any statement that writes the grain key "poison".</summary>
    protected abstract Task PoisonAsync(IStateStore store);

    protected void OnCleanup(Func<ValueTask> cleanup) => _cleanup.Add(cleanup);

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            await _cleanup[i]();
        }

        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Writes_queued_while_the_writer_is_busy_commit_as_one_batch_each_with_its_own_outcome()
    {
        var (store, probe) = await OpenAsync(new GrainStorageOptions());
        var storage = store.GrainStorage;
        var lease = await AcquireAsync(store, 1);
        var gate = Hold(probe);
        var blocker = storage.WriteAsync(Type, "blocker", Bytes("b"), 0, lease.Fence, Ct);
        await Within(gate.Entered, "the writer to start its first batch");

        var good = Enumerable.Range(0, 20).Select(i => storage.WriteAsync(Type, $"good-{i}", Bytes($"g{i}"), 0, lease.Fence, Ct)).ToArray();
        var stale = Enumerable.Range(0, 5).Select(i => storage.WriteAsync(Type, $"stale-{i}", Bytes("s"), 0, lease.Fence with { Epoch = lease.Epoch + 1 }, Ct)).ToArray();
        var conflicting = Enumerable.Range(0, 5).Select(i => storage.WriteAsync(Type, $"conflict-{i}", Bytes("c"), 7, lease.Fence, Ct)).ToArray();
        var before = probe.Stats;
        gate.Release();

        await Within(blocker, "the held write to commit");
        Assert.All(await WhenAllWithin(good, "20 good writes"), version => Assert.Equal(1, version));
        foreach (var write in stale)
        {
            await Assert.ThrowsAsync<StaleEpochException>(() => write);
        }

        foreach (var write in conflicting)
        {
            await Assert.ThrowsAsync<InconsistentStateException>(() => write);
        }

        var after = probe.Stats;
        // The held batch of one, then everything queued meanwhile in one more.
        Assert.Equal((2L, 30), (after.Batches - before.Batches, after.LastBatch));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal($"g{i}", Text((await storage.ReadAsync(Type, $"good-{i}", Ct)).Data));
        }

        Assert.False((await storage.ReadAsync(Type, "stale-0", Ct)).Exists);
        Assert.False((await storage.ReadAsync(Type, "conflict-0", Ct)).Exists);
    }

    [Fact]
    public async Task A_write_whose_statement_fails_in_the_database_fails_alone()
    {
        var (store, probe) = await OpenAsync(new GrainStorageOptions());
        var storage = store.GrainStorage;
        var lease = await AcquireAsync(store, 1);
        await PoisonAsync(store);
        var gate = Hold(probe);
        var blocker = storage.WriteAsync(Type, "blocker", Bytes("b"), 0, lease.Fence, Ct);
        await Within(gate.Entered, "the writer to start its first batch");

        var before = Enumerable.Range(0, 5).Select(i => storage.WriteAsync(Type, $"before-{i}", Bytes("x"), 0, lease.Fence, Ct)).ToArray();
        var poison = storage.WriteAsync(Type, "poison", Bytes("p"), 0, lease.Fence, Ct);
        var after = Enumerable.Range(0, 5).Select(i => storage.WriteAsync(Type, $"after-{i}", Bytes("x"), 0, lease.Fence, Ct)).ToArray();
        gate.Release();

        await Within(blocker, "the held write to commit");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => poison);
        Assert.Contains("poison", error.Message, StringComparison.Ordinal);
        Assert.All(await WhenAllWithin(before.Concat(after), "the writes around the failing one"), version => Assert.Equal(1, version));
        Assert.False((await storage.ReadAsync(Type, "poison", Ct)).Exists);
        Assert.True((await storage.ReadAsync(Type, "after-4", Ct)).Exists);
    }

    [Fact]
    public async Task A_full_queue_makes_writers_wait_and_a_waiting_writer_can_give_up()
    {
        var (store, probe) = await OpenAsync(new GrainStorageOptions { QueueCapacity = 4 });
        var storage = store.GrainStorage;
        var lease = await AcquireAsync(store, 1);
        var gate = Hold(probe);
        var blocker = storage.WriteAsync(Type, "blocker", Bytes("b"), 0, lease.Fence, Ct);
        await Within(gate.Entered, "the writer to start its first batch");

        var queued = Enumerable.Range(0, 4).Select(i => storage.WriteAsync(Type, $"queued-{i}", Bytes("q"), 0, lease.Fence, Ct)).ToArray();
        var waiting = storage.WriteAsync(Type, "waiting", Bytes("w"), 0, lease.Fence, Ct);
        using var giveUp = new CancellationTokenSource();
        var impatient = storage.WriteAsync(Type, "impatient", Bytes("i"), 0, lease.Fence, giveUp.Token);

        Assert.False(waiting.IsCompleted, "a write beyond the queue capacity should wait for room");
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);

        gate.Release();
        await WhenAllWithin(queued.Append(waiting).Append(blocker), "the queued and the waiting writes");
        Assert.True((await storage.ReadAsync(Type, "waiting", Ct)).Exists);
        Assert.False((await storage.ReadAsync(Type, "impatient", Ct)).Exists);
    }

    [Fact]
    public async Task A_write_cancelled_while_queued_is_dropped_and_the_rest_commit()
    {
        var (store, probe) = await OpenAsync(new GrainStorageOptions());
        var storage = store.GrainStorage;
        var lease = await AcquireAsync(store, 1);
        var gate = Hold(probe);
        var blocker = storage.WriteAsync(Type, "blocker", Bytes("b"), 0, lease.Fence, Ct);
        await Within(gate.Entered, "the writer to start its first batch");

        using var giveUp = new CancellationTokenSource();
        var dropped = storage.WriteAsync(Type, "dropped", Bytes("d"), 0, lease.Fence, giveUp.Token);
        var kept = storage.WriteAsync(Type, "kept", Bytes("k"), 0, lease.Fence, Ct);
        await giveUp.CancelAsync();
        gate.Release();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dropped);
        await WhenAllWithin([blocker, kept], "the held and the kept write");
        Assert.False((await storage.ReadAsync(Type, "dropped", Ct)).Exists);
        Assert.Equal(1, probe.Stats.LastBatch);
    }

    [Fact]
    public async Task Disposing_commits_what_is_queued_then_refuses_new_writes()
    {
        var (store, probe) = await OpenAsync(new GrainStorageOptions());
        var storage = store.GrainStorage;
        var lease = await AcquireAsync(store, 1);
        var gate = Hold(probe);
        var blocker = storage.WriteAsync(Type, "blocker", Bytes("b"), 0, lease.Fence, Ct);
        await Within(gate.Entered, "the writer to start its first batch");
        var queued = Enumerable.Range(0, 10).Select(i => storage.WriteAsync(Type, $"queued-{i}", Bytes("q"), 0, lease.Fence, Ct)).ToArray();

        var disposing = store.DisposeAsync().AsTask();
        gate.Release();

        await WhenAllWithin(queued.Append(blocker), "the writes queued before dispose");
        await Within(disposing, "the store to finish disposing");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => storage.WriteAsync(Type, "late", Bytes("l"), 0, lease.Fence, Ct));
    }

    private static async Task<Lease> AcquireAsync(IStateStore store, int shard)
        => await store.Leases.TryAcquireAsync(shard, "silo-a", TimeSpan.FromMinutes(10), Ct) ?? throw new XunitException($"expected to acquire the free shard {shard}");

    /// <summary>Holds the writer inside its next batch until released; later batches pass.</summary>
    private static Gate Hold(IGroupCommitProbe probe)
    {
        var gate = new Gate();
        probe.BeforeBatch = async () =>
        {
            if (gate.TryEnter())
            {
                await gate.Released;
            }
        };
        return gate;
    }

    private static async Task Within(Task task, string expectation)
    {
        try
        {
            await task.WaitAsync(WaitLimit, Ct);
        }
        catch (TimeoutException)
        {
            throw new XunitException($"Timed out after {WaitLimit.TotalSeconds:0} s waiting for {expectation}.");
        }
    }

    private static async Task<T[]> WhenAllWithin<T>(IEnumerable<Task<T>> tasks, string expectation)
    {
        var all = Task.WhenAll(tasks);
        await Within(all, expectation);
        return await all;
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[]? data) => data is null ? "<none>" : Encoding.UTF8.GetString(data);

    private sealed class Gate
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task;

        public Task Released => _released.Task;

        public bool TryEnter() => _entered.TrySetResult();

        public void Release() => _released.TrySetResult();
    }
}

public sealed class SqliteGroupCommitTests : GroupCommitTests
{
    private protected override async ValueTask<(IStateStore Store, IGroupCommitProbe Probe)> OpenAsync(GrainStorageOptions options)
    {
        var folder = SqliteTestStore.NewFolder();
        var store = await SqliteStateStore.OpenAsync(new SqliteStoreOptions { Path = Path.Combine(folder, "trellis.db"), Grains = options }, cancellationToken: Ct);
        OnCleanup(() =>
        {
            Directory.Delete(folder, recursive: true);
            return ValueTask.CompletedTask;
        });
        OnCleanup(store.DisposeAsync);
        return (store, store.Database.Loop);
    }

    protected override Task PoisonAsync(IStateStore store)
    {
        using var connection = new SqliteConnection($"Data Source={((SqliteStateStore)store).FilePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            CREATE TRIGGER poison BEFORE INSERT ON grain_state WHEN NEW.grain_key = 'poison'
            BEGIN SELECT RAISE(ABORT, 'poison write refused by the database'); END;
            """;
        command.ExecuteNonQuery();
        return Task.CompletedTask;
    }
}

public sealed class PostgresGroupCommitTests : GroupCommitTests
{
    private protected override async ValueTask<(IStateStore Store, IGroupCommitProbe Probe)> OpenAsync(GrainStorageOptions options)
    {
        var connectionString = PostgresTestStore.ConnectionString();
        var schema = PostgresTestStore.NewSchema();
        // One writer lane, so holding "the writer" holds every write.
        var store = await PostgresStateStore.OpenAsync(new PostgresStoreOptions { ConnectionString = connectionString, Schema = schema, Grains = options, WriterConnections = 1 }, cancellationToken: Ct);
        OnCleanup(async () => await PostgresTestStore.DropSchemaAsync(connectionString, schema));
        OnCleanup(store.DisposeAsync);
        return (store, store.Database.Lanes[0].Loop);
    }

    protected override async Task PoisonAsync(IStateStore store)
    {
        var schema = ((PostgresStateStore)store).Schema;
        await using var connection = new NpgsqlConnection(PostgresTestStore.ConnectionString());
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand($"""
            CREATE FUNCTION {schema}.poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.grain_key = 'poison' THEN RAISE EXCEPTION 'poison write refused by the database'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER poison BEFORE INSERT ON {schema}.grain_state FOR EACH ROW EXECUTE FUNCTION {schema}.poison();
            """, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
