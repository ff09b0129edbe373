using Trellis.Core.Persistence;
using Xunit;

namespace Trellis.TestKit.Persistence;

/// <summary>What every <see cref="ILeaseTable"/> must do: one owner per shard, expiry by the store clock, and an epoch that changes with every new acquisition.</summary>
public abstract class LeaseTableConformance : StateStoreConformance
{
    private ILeaseTable Leases => Store.Leases;

    [Fact]
    public async Task A_free_shard_is_acquired_until_store_now_plus_ttl()
    {
        var before = await StoreNowAsync();
        var lease = await Leases.TryAcquireAsync(3, "silo-a", LongTtl, Ct);
        var after = await StoreNowAsync();

        Assert.NotNull(lease);
        Assert.Equal((3, "silo-a"), (lease.Shard, lease.Owner));
        Assert.True(lease.Epoch >= 1, $"expected a positive epoch, got {lease.Epoch}");
        Assert.InRange(lease.ExpiresAt, before + LongTtl, after + LongTtl);
        Assert.Equal(lease.Fence, new FenceToken(3, lease.Epoch, "silo-a"));
    }

    [Fact]
    public async Task A_held_shard_cannot_be_acquired_by_another_owner()
    {
        var lease = await Leases.TryAcquireAsync(3, "silo-a", LongTtl, Ct);

        Assert.Null(await Leases.TryAcquireAsync(3, "silo-b", LongTtl, Ct));

        var row = Assert.Single((await Leases.ReadAllAsync(Ct)).Leases);
        Assert.Equal(lease, row);
    }

    [Fact]
    public async Task The_holder_acquiring_again_extends_the_lease_and_keeps_its_epoch()
    {
        var first = await Leases.TryAcquireAsync(3, "silo-a", ShortTtl, Ct);
        Assert.NotNull(first);

        var again = await Leases.TryAcquireAsync(3, "silo-a", LongTtl, Ct);

        Assert.NotNull(again);
        Assert.Equal(first.Epoch, again.Epoch);
        Assert.True(again.ExpiresAt > first.ExpiresAt, $"expected the lease to be extended past {first.ExpiresAt:O}, got {again.ExpiresAt:O}");
    }

    [Fact]
    public async Task An_expired_lease_is_taken_over_with_the_next_epoch()
    {
        var first = await Leases.TryAcquireAsync(4, "silo-a", ShortTtl, Ct);
        Assert.NotNull(first);
        Assert.Null(await Leases.TryAcquireAsync(4, "silo-b", LongTtl, Ct));

        await LetStoreClockPassAsync(first.ExpiresAt);
        var snapshot = await Leases.ReadAllAsync(Ct);
        Assert.False(Assert.Single(snapshot.Leases).IsHeldAt(snapshot.Now), "the lease should read as expired on the store clock");

        var second = await Leases.TryAcquireAsync(4, "silo-b", LongTtl, Ct);
        Assert.NotNull(second);
        Assert.Equal(("silo-b", first.Epoch + 1), (second.Owner, second.Epoch));

        Assert.Null(await Leases.RenewAsync(first, LongTtl, Ct));
        Assert.False(await Leases.ReleaseAsync(first, Ct));
        Assert.Equal(second, Assert.Single((await Leases.ReadAllAsync(Ct)).Leases));
    }

    [Fact]
    public async Task An_owner_coming_back_after_its_lease_expired_gets_a_new_epoch()
    {
        var first = await Leases.TryAcquireAsync(4, "silo-a", ShortTtl, Ct);
        Assert.NotNull(first);

        await LetStoreClockPassAsync(first.ExpiresAt);
        Assert.Null(await Leases.RenewAsync(first, LongTtl, Ct));
        var again = await Leases.TryAcquireAsync(4, "silo-a", LongTtl, Ct);

        Assert.NotNull(again);
        Assert.Equal(first.Epoch + 1, again.Epoch);
    }

    [Fact]
    public async Task Renewal_extends_the_lease_of_its_holder()
    {
        var lease = await Leases.TryAcquireAsync(5, "silo-a", ShortTtl, Ct);
        Assert.NotNull(lease);

        var before = await StoreNowAsync();
        var renewed = await Leases.RenewAsync(lease, LongTtl, Ct);
        var after = await StoreNowAsync();

        Assert.NotNull(renewed);
        Assert.Equal((lease.Shard, lease.Owner, lease.Epoch), (renewed.Shard, renewed.Owner, renewed.Epoch));
        Assert.InRange(renewed.ExpiresAt, before + LongTtl, after + LongTtl);
        Assert.Equal(renewed, Assert.Single((await Leases.ReadAllAsync(Ct)).Leases));
    }

    [Fact]
    public async Task Renewal_by_anyone_but_the_holder_is_refused()
    {
        var lease = await Leases.TryAcquireAsync(5, "silo-a", LongTtl, Ct);
        Assert.NotNull(lease);

        Assert.Null(await Leases.RenewAsync(lease with { Owner = "silo-b" }, LongTtl, Ct));
        Assert.Null(await Leases.RenewAsync(lease with { Epoch = lease.Epoch + 1 }, LongTtl, Ct));
        Assert.Null(await Leases.RenewAsync(lease with { Shard = 6 }, LongTtl, Ct));

        Assert.Equal(lease, Assert.Single((await Leases.ReadAllAsync(Ct)).Leases));
    }

    [Fact]
    public async Task Release_frees_the_shard_at_once_and_the_next_owner_gets_the_next_epoch()
    {
        var lease = await Leases.TryAcquireAsync(7, "silo-a", LongTtl, Ct);
        Assert.NotNull(lease);

        Assert.False(await Leases.ReleaseAsync(lease with { Owner = "silo-b" }, Ct));
        Assert.False(await Leases.ReleaseAsync(lease with { Epoch = lease.Epoch + 1 }, Ct));
        Assert.True(await Leases.ReleaseAsync(lease, Ct));
        Assert.False(await Leases.ReleaseAsync(lease, Ct));
        Assert.Null(await Leases.RenewAsync(lease, LongTtl, Ct));

        var snapshot = await Leases.ReadAllAsync(Ct);
        var released = Assert.Single(snapshot.Leases);
        Assert.Equal(("", lease.Epoch), (released.Owner, released.Epoch));
        Assert.False(released.IsHeldAt(snapshot.Now));

        var next = await Leases.TryAcquireAsync(7, "silo-b", LongTtl, Ct);
        Assert.NotNull(next);
        Assert.Equal(lease.Epoch + 1, next.Epoch);
    }

    [Fact]
    public async Task Read_all_lists_every_shard_in_order_with_the_store_clock()
    {
        await Leases.TryAcquireAsync(9, "silo-a", LongTtl, Ct);
        await Leases.TryAcquireAsync(2, "silo-b", LongTtl, Ct);
        await Leases.TryAcquireAsync(5, "silo-a", LongTtl, Ct);

        var snapshot = await Leases.ReadAllAsync(Ct);

        Assert.Equal([2, 5, 9], snapshot.Leases.Select(l => l.Shard));
        Assert.Equal(["silo-b", "silo-a", "silo-a"], snapshot.Leases.Select(l => l.Owner));
        Assert.All(snapshot.Leases, l => Assert.True(l.IsHeldAt(snapshot.Now), $"shard {l.Shard} should be held at {snapshot.Now:O}"));
    }

    [Fact]
    public async Task Concurrent_acquirers_of_one_shard_have_exactly_one_winner()
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            await start.Task;
            return await Leases.TryAcquireAsync(12, $"silo-{i}", LongTtl, Ct);
        })).ToArray();

        start.SetResult();
        await WithinAsync(Task.WhenAll(attempts), "16 concurrent acquisitions of shard 12 to finish");

        var winner = Assert.Single(attempts.Select(a => a.Result).OfType<Lease>());
        Assert.Equal(winner, Assert.Single((await Leases.ReadAllAsync(Ct)).Leases));
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_parameter()
    {
        var lease = new Lease(1, "silo-a", 1, DateTimeOffset.UnixEpoch);

        await ExpectArgumentErrorAsync("ttl", () => Leases.TryAcquireAsync(1, "silo-a", TimeSpan.FromSeconds(-1), Ct));
        await ExpectArgumentErrorAsync("ttl", () => Leases.TryAcquireAsync(1, "silo-a", TimeSpan.Zero, Ct));
        await ExpectArgumentErrorAsync("owner", () => Leases.TryAcquireAsync(1, "", LongTtl, Ct));
        await ExpectArgumentErrorAsync("shard", () => Leases.TryAcquireAsync(-1, "silo-a", LongTtl, Ct));
        await ExpectArgumentErrorAsync("ttl", () => Leases.RenewAsync(lease, TimeSpan.FromSeconds(-1), Ct));
        await ExpectArgumentErrorAsync("lease", () => Leases.RenewAsync(null!, LongTtl, Ct));
        await ExpectArgumentErrorAsync("lease", () => Leases.ReleaseAsync(lease with { Owner = "" }, Ct));

        Assert.Empty((await Leases.ReadAllAsync(Ct)).Leases);
    }
}
