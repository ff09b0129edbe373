using Trellis.Core.Persistence;
using Xunit;

namespace Trellis.TestKit.Persistence;

/// <summary>What every <see cref="IGrainStorage"/> must do: versioned, fenced, durable state with per-write outcomes inside batches.</summary>
public abstract class GrainStorageConformance : StateStoreConformance
{
    private const string Type = "counter";

    private IGrainStorage Storage => Store.GrainStorage;

    [Fact]
    public async Task Unknown_grain_reads_as_no_state_at_version_zero()
    {
        var state = await Storage.ReadAsync(Type, NewId("unknown"), Ct);

        Assert.False(state.Exists);
        Assert.Null(state.Data);
        Assert.Equal(0, state.Version);
    }

    [Fact]
    public async Task Read_returns_the_last_acknowledged_write()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("g");

        Assert.Equal(1, await Storage.WriteAsync(Type, key, Bytes("one"), 0, lease.Fence, Ct));
        var first = await Storage.ReadAsync(Type, key, Ct);
        Assert.Equal(("one", 1L), (Text(first.Data), first.Version));

        Assert.Equal(2, await Storage.WriteAsync(Type, key, Bytes("two"), 1, lease.Fence, Ct));
        var second = await Storage.ReadAsync(Type, key, Ct);
        Assert.Equal(("two", 2L), (Text(second.Data), second.Version));
    }

    [Fact]
    public async Task Empty_state_is_state_not_absence()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("empty");

        await Storage.WriteAsync(Type, key, ReadOnlyMemory<byte>.Empty, 0, lease.Fence, Ct);

        var state = await Storage.ReadAsync(Type, key, Ct);
        Assert.True(state.Exists);
        Assert.Empty(state.Data!);
        Assert.Equal(1, state.Version);
    }

    [Fact]
    public async Task Grains_with_the_same_key_and_different_types_are_separate()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("shared");

        await Storage.WriteAsync("a", key, Bytes("from a"), 0, lease.Fence, Ct);
        await Storage.WriteAsync("b", key, Bytes("from b"), 0, lease.Fence, Ct);

        Assert.Equal("from a", Text((await Storage.ReadAsync("a", key, Ct)).Data));
        Assert.Equal("from b", Text((await Storage.ReadAsync("b", key, Ct)).Data));
    }

    [Fact]
    public async Task Stale_version_is_refused_with_both_versions_and_changes_nothing()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("g");
        await Storage.WriteAsync(Type, key, Bytes("v1"), 0, lease.Fence, Ct);
        await Storage.WriteAsync(Type, key, Bytes("v2"), 1, lease.Fence, Ct);

        var conflict = await Assert.ThrowsAsync<InconsistentStateException>(() => Storage.WriteAsync(Type, key, Bytes("late"), 1, lease.Fence, Ct));

        Assert.Equal((Type, key, 1L, 2L), (conflict.GrainType, conflict.GrainKey, conflict.ExpectedVersion, conflict.ActualVersion));
        var state = await Storage.ReadAsync(Type, key, Ct);
        Assert.Equal(("v2", 2L), (Text(state.Data), state.Version));
    }

    [Fact]
    public async Task Creating_a_grain_that_exists_or_updating_one_that_does_not_is_a_conflict()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var existing = NewId("existing");
        await Storage.WriteAsync(Type, existing, Bytes("v1"), 0, lease.Fence, Ct);

        var create = await Assert.ThrowsAsync<InconsistentStateException>(() => Storage.WriteAsync(Type, existing, Bytes("again"), 0, lease.Fence, Ct));
        Assert.Equal((0L, 1L), (create.ExpectedVersion, create.ActualVersion));

        var missing = NewId("missing");
        var update = await Assert.ThrowsAsync<InconsistentStateException>(() => Storage.WriteAsync(Type, missing, Bytes("x"), 3, lease.Fence, Ct));
        Assert.Equal((3L, 0L), (update.ExpectedVersion, update.ActualVersion));
        Assert.False((await Storage.ReadAsync(Type, missing, Ct)).Exists);
    }

    [Fact]
    public async Task Fenced_write_is_refused_after_another_owner_takes_the_lease_and_accepted_with_the_new_epoch()
    {
        var key = NewId("fenced");
        var old = await AcquireAsync(5, "silo-a", ShortTtl);
        Assert.Equal(1, await Storage.WriteAsync(Type, key, Bytes("by a"), 0, old.Fence, Ct));

        await LetStoreClockPassAsync(old.ExpiresAt);
        var current = await AcquireAsync(5, "silo-b");
        Assert.Equal(old.Epoch + 1, current.Epoch);

        var stale = await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("late a"), 1, old.Fence, Ct));
        Assert.Equal((old.Fence, "silo-b", current.Epoch), (stale.Fence, stale.CurrentOwner, stale.CurrentEpoch));
        Assert.Equal("by a", Text((await Storage.ReadAsync(Type, key, Ct)).Data));

        Assert.Equal(2, await Storage.WriteAsync(Type, key, Bytes("by b"), 1, current.Fence, Ct));
        var state = await Storage.ReadAsync(Type, key, Ct);
        Assert.Equal(("by b", 2L), (Text(state.Data), state.Version));
    }

    [Fact]
    public async Task Fenced_write_is_refused_without_a_lease_with_a_wrong_owner_or_epoch_and_after_release()
    {
        var key = NewId("fenced");
        var noLease = await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 0, new FenceToken(77, 1, "silo-a"), Ct));
        Assert.Null(noLease.CurrentOwner);
        Assert.Null(noLease.CurrentEpoch);

        var lease = await AcquireAsync(6, "silo-a");
        await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 0, lease.Fence with { Owner = "silo-z" }, Ct));
        await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 0, lease.Fence with { Epoch = lease.Epoch + 1 }, Ct));
        await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 0, lease.Fence with { Shard = 7 }, Ct));

        Assert.True(await Store.Leases.ReleaseAsync(lease, Ct));
        var released = await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 0, lease.Fence, Ct));
        Assert.Equal("", released.CurrentOwner);

        Assert.False((await Storage.ReadAsync(Type, key, Ct)).Exists);
    }

    [Fact]
    public async Task Stale_fence_wins_over_a_version_conflict()
    {
        var key = NewId("g");
        var lease = await AcquireAsync(1, "silo-a");
        await Storage.WriteAsync(Type, key, Bytes("v1"), 0, lease.Fence, Ct);

        await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 9, lease.Fence with { Owner = "silo-z" }, Ct));
    }

    [Fact]
    public async Task Clear_removes_the_state_and_versions_keep_counting()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("g");
        await Storage.WriteAsync(Type, key, Bytes("v1"), 0, lease.Fence, Ct);

        await Assert.ThrowsAsync<InconsistentStateException>(() => Storage.ClearAsync(Type, key, 0, lease.Fence, Ct));
        await Assert.ThrowsAsync<StaleEpochException>(() => Storage.ClearAsync(Type, key, 1, lease.Fence with { Epoch = lease.Epoch + 1 }, Ct));
        Assert.True((await Storage.ReadAsync(Type, key, Ct)).Exists);

        Assert.Equal(2, await Storage.ClearAsync(Type, key, 1, lease.Fence, Ct));
        var cleared = await Storage.ReadAsync(Type, key, Ct);
        Assert.False(cleared.Exists);
        Assert.Equal(2, cleared.Version);

        // A writer still holding a version from before the clear must not match again.
        await Assert.ThrowsAsync<InconsistentStateException>(() => Storage.WriteAsync(Type, key, Bytes("stale"), 0, lease.Fence, Ct));
        Assert.Equal(3, await Storage.WriteAsync(Type, key, Bytes("v3"), 2, lease.Fence, Ct));
        Assert.Equal(("v3", 3L), (Text((await Storage.ReadAsync(Type, key, Ct)).Data), (await Storage.ReadAsync(Type, key, Ct)).Version));
    }

    [Fact]
    public async Task Pipelined_writes_to_one_grain_apply_in_issue_order()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("pipelined");

        // One activation may issue its next write before the previous one is acknowledged.
        var writes = Enumerable.Range(0, 20).Select(v => Storage.WriteAsync(Type, key, Bytes($"v{v + 1}"), v, lease.Fence, Ct)).ToArray();
        await WithinAsync(Task.WhenAll(writes), "20 pipelined writes of one grain to be acknowledged");

        Assert.Equal(Enumerable.Range(1, 20).Select(v => (long)v), writes.Select(w => w.Result));
        var state = await Storage.ReadAsync(Type, key, Ct);
        Assert.Equal(("v20", 20L), (Text(state.Data), state.Version));
    }

    [Fact]
    public async Task Concurrent_writers_are_all_acknowledged_and_only_the_refused_ones_fail()
    {
        var mine = await AcquireAsync(10, "silo-a");
        var theirs = await AcquireAsync(11, "silo-b");
        const int Writers = 48;
        const int WritesEach = 4;
        const int StaleWriters = 16;
        const int ConflictingWriters = 8;
        var run = NewId("burst");
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var conflicted = $"{run}-conflicted";
        await Storage.WriteAsync(Type, conflicted, Bytes("seed"), 0, mine.Fence, Ct);

        var good = Enumerable.Range(0, Writers).Select(i => Task.Run(async () =>
        {
            await start.Task;
            for (var v = 0; v < WritesEach; v++)
            {
                Assert.Equal(v + 1, await Storage.WriteAsync(Type, $"{run}-{i}", Bytes($"{i}:{v}"), v, mine.Fence, Ct));
            }
        }));
        var stale = Enumerable.Range(0, StaleWriters).Select(i => Task.Run(async () =>
        {
            await start.Task;
            // Half write to shard 10 with a fence it never held, half to the shard another silo holds.
            var fence = i % 2 == 0 ? mine.Fence with { Epoch = mine.Epoch + 1 } : theirs.Fence with { Owner = "silo-a" };
            await Assert.ThrowsAsync<StaleEpochException>(() => Storage.WriteAsync(Type, $"{run}-stale-{i}", Bytes("stale"), 0, fence, Ct));
        }));
        var conflicting = Enumerable.Range(0, ConflictingWriters).Select(i => Task.Run(async () =>
        {
            await start.Task;
            await Assert.ThrowsAsync<InconsistentStateException>(() => Storage.WriteAsync(Type, conflicted, Bytes("conflict"), 5 + i, mine.Fence, Ct));
        }));
        var all = good.Concat(stale).Concat(conflicting).ToArray();

        start.SetResult();
        await WithinAsync(Task.WhenAll(all), $"{Writers}x{WritesEach} good, {StaleWriters} stale and {ConflictingWriters} conflicting writes to finish");

        for (var i = 0; i < Writers; i++)
        {
            var state = await Storage.ReadAsync(Type, $"{run}-{i}", Ct);
            Assert.Equal(($"{i}:{WritesEach - 1}", (long)WritesEach), (Text(state.Data), state.Version));
        }

        for (var i = 0; i < StaleWriters; i++)
        {
            Assert.False((await Storage.ReadAsync(Type, $"{run}-stale-{i}", Ct)).Exists);
        }

        var seeded = await Storage.ReadAsync(Type, conflicted, Ct);
        Assert.Equal(("seed", 1L), (Text(seeded.Data), seeded.Version));
    }

    [Fact]
    public async Task State_up_to_the_limit_is_stored_and_beyond_it_refused_naming_state()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("big");
        var largest = new byte[StateLimit];
        Random.Shared.NextBytes(largest);

        await Storage.WriteAsync(Type, key, largest, 0, lease.Fence, Ct);
        Assert.Equal(largest, (await Storage.ReadAsync(Type, key, Ct)).Data);

        await ExpectArgumentErrorAsync("state", () => Storage.WriteAsync(Type, key, new byte[StateLimit + 1], 1, lease.Fence, Ct));
        Assert.Equal(1, (await Storage.ReadAsync(Type, key, Ct)).Version);
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_parameter()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var fence = lease.Fence;
        byte[] data = [1];

        await ExpectArgumentErrorAsync("grainType", () => Storage.ReadAsync("", "k", Ct));
        await ExpectArgumentErrorAsync("grainKey", () => Storage.ReadAsync(Type, "", Ct));
        await ExpectArgumentErrorAsync("grainType", () => Storage.WriteAsync(null!, "k", data, 0, fence, Ct));
        await ExpectArgumentErrorAsync("grainKey", () => Storage.WriteAsync(Type, "", data, 0, fence, Ct));
        await ExpectArgumentErrorAsync("grainKey", () => Storage.WriteAsync(Type, "a\0b", data, 0, fence, Ct));
        await ExpectArgumentErrorAsync("grainKey", () => Storage.WriteAsync(Type, new string('k', PersistenceGuard.MaxGrainKeyLength + 1), data, 0, fence, Ct));
        await ExpectArgumentErrorAsync("expectedVersion", () => Storage.WriteAsync(Type, "k", data, -1, fence, Ct));
        await ExpectArgumentErrorAsync("fence", () => Storage.WriteAsync(Type, "k", data, 0, fence with { Owner = "" }, Ct));
        await ExpectArgumentErrorAsync("fence", () => Storage.WriteAsync(Type, "k", data, 0, fence with { Shard = -1 }, Ct));
        await ExpectArgumentErrorAsync("grainType", () => Storage.ClearAsync("", "k", 0, fence, Ct));
        await ExpectArgumentErrorAsync("expectedVersion", () => Storage.ClearAsync(Type, "k", -2, fence, Ct));
        await ExpectArgumentErrorAsync("fence", () => Storage.ClearAsync(Type, "k", 0, default, Ct));

        Assert.False((await Storage.ReadAsync(Type, "k", Ct)).Exists);
    }

    [Fact]
    public async Task A_write_cancelled_before_it_is_issued_writes_nothing()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("cancelled");
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Storage.WriteAsync(Type, key, Bytes("x"), 0, lease.Fence, cancelled.Token));

        Assert.False((await Storage.ReadAsync(Type, key, Ct)).Exists);
    }

    [Fact]
    public async Task The_store_keeps_its_own_copy_of_what_it_wrote_and_returned()
    {
        var lease = await AcquireAsync(1, "silo-a");
        var key = NewId("copy");
        var buffer = Bytes("original");

        await Storage.WriteAsync(Type, key, buffer, 0, lease.Fence, Ct);
        buffer[0] = (byte)'X';
        var read = await Storage.ReadAsync(Type, key, Ct);
        read.Data![1] = (byte)'Y';

        Assert.Equal("original", Text((await Storage.ReadAsync(Type, key, Ct)).Data));
    }

    private async Task<Lease> AcquireAsync(int shard, string owner, TimeSpan? ttl = null)
    {
        var lease = await Store.Leases.TryAcquireAsync(shard, owner, ttl ?? LongTtl, Ct);
        Assert.True(lease is not null, $"expected '{owner}' to acquire the free lease of shard {shard}");
        return lease;
    }
}
