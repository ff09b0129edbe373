using Trellis.Core.Persistence;
using Xunit;

namespace Trellis.TestKit.Persistence;

/// <summary>What every <see cref="IMembershipTable"/> must do: join, heartbeat, forward-only status, and death that is final.</summary>
public abstract class MembershipTableConformance : StateStoreConformance
{
    private IMembershipTable Membership => Store.Membership;

    [Fact]
    public async Task A_joining_silo_is_recorded_with_the_store_clock()
    {
        var before = await StoreNowAsync();
        var entry = await Membership.JoinAsync("silo-a", "10.0.0.1:11111", Ct);
        var after = await StoreNowAsync();

        Assert.Equal(("silo-a", "10.0.0.1:11111", SiloStatus.Joining), (entry.SiloId, entry.Address, entry.Status));
        Assert.InRange(entry.StartedAt, before, after);
        Assert.Equal(entry.StartedAt, entry.LastHeartbeat);
        Assert.Equal(entry, Assert.Single((await Membership.ReadAllAsync(Ct)).Silos));
    }

    [Fact]
    public async Task Joining_again_refreshes_address_and_heartbeat_but_keeps_start_and_status()
    {
        var first = await Membership.JoinAsync("silo-a", "10.0.0.1:1", Ct);
        Assert.True(await Membership.SetStatusAsync("silo-a", SiloStatus.Active, Ct));
        await LetStoreClockPassAsync(first.LastHeartbeat + TimeSpan.FromMilliseconds(5));

        var again = await Membership.JoinAsync("silo-a", "10.0.0.1:2", Ct);

        Assert.Equal(("10.0.0.1:2", first.StartedAt, SiloStatus.Active), (again.Address, again.StartedAt, again.Status));
        Assert.True(again.LastHeartbeat > first.LastHeartbeat, $"expected a heartbeat after {first.LastHeartbeat:O}, got {again.LastHeartbeat:O}");
    }

    [Fact]
    public async Task Heartbeat_moves_the_last_heartbeat_to_store_now()
    {
        var joined = await Membership.JoinAsync("silo-a", "host:1", Ct);
        await LetStoreClockPassAsync(joined.LastHeartbeat + TimeSpan.FromMilliseconds(5));
        var before = await StoreNowAsync();

        Assert.True(await Membership.HeartbeatAsync("silo-a", Ct));

        var entry = Assert.Single((await Membership.ReadAllAsync(Ct)).Silos);
        Assert.True(entry.LastHeartbeat >= before, $"expected a heartbeat at or after {before:O}, got {entry.LastHeartbeat:O}");
        Assert.Equal(joined.StartedAt, entry.StartedAt);
    }

    [Fact]
    public async Task Status_only_moves_forward()
    {
        await Membership.JoinAsync("silo-a", "host:1", Ct);

        Assert.True(await Membership.SetStatusAsync("silo-a", SiloStatus.Active, Ct));
        Assert.True(await Membership.SetStatusAsync("silo-a", SiloStatus.Active, Ct));
        Assert.False(await Membership.SetStatusAsync("silo-a", SiloStatus.Joining, Ct));
        Assert.True(await Membership.SetStatusAsync("silo-a", SiloStatus.ShuttingDown, Ct));
        Assert.False(await Membership.SetStatusAsync("silo-a", SiloStatus.Active, Ct));

        Assert.Equal(SiloStatus.ShuttingDown, Assert.Single((await Membership.ReadAllAsync(Ct)).Silos).Status);
    }

    [Fact]
    public async Task A_silo_marked_dead_stays_dead()
    {
        await Membership.JoinAsync("silo-a", "host:1", Ct);
        await Membership.SetStatusAsync("silo-a", SiloStatus.Active, Ct);

        Assert.True(await Membership.MarkDeadAsync("silo-a", Ct));
        Assert.False(await Membership.MarkDeadAsync("silo-a", Ct));
        Assert.False(await Membership.HeartbeatAsync("silo-a", Ct));
        Assert.False(await Membership.SetStatusAsync("silo-a", SiloStatus.Active, Ct));
        var rejoin = await Assert.ThrowsAsync<SiloDeclaredDeadException>(() => Membership.JoinAsync("silo-a", "host:1", Ct));
        Assert.Equal("silo-a", rejoin.SiloId);

        Assert.Equal(SiloStatus.Dead, Assert.Single((await Membership.ReadAllAsync(Ct)).Silos).Status);
    }

    [Fact]
    public async Task Unknown_silos_are_reported_not_created()
    {
        Assert.False(await Membership.HeartbeatAsync("ghost", Ct));
        Assert.False(await Membership.SetStatusAsync("ghost", SiloStatus.Active, Ct));
        Assert.False(await Membership.MarkDeadAsync("ghost", Ct));

        Assert.Empty((await Membership.ReadAllAsync(Ct)).Silos);
    }

    [Fact]
    public async Task Read_all_lists_every_silo_by_id()
    {
        await Membership.JoinAsync("silo-c", "host:3", Ct);
        await Membership.JoinAsync("silo-a", "host:1", Ct);
        await Membership.JoinAsync("silo-b", "host:2", Ct);
        await Membership.MarkDeadAsync("silo-b", Ct);

        var snapshot = await Membership.ReadAllAsync(Ct);

        Assert.Equal(["silo-a", "silo-b", "silo-c"], snapshot.Silos.Select(s => s.SiloId));
        Assert.Equal([SiloStatus.Joining, SiloStatus.Dead, SiloStatus.Joining], snapshot.Silos.Select(s => s.Status));
        Assert.All(snapshot.Silos, s => Assert.True(s.LastHeartbeat <= snapshot.Now, $"{s.SiloId} heartbeat {s.LastHeartbeat:O} is after the snapshot clock {snapshot.Now:O}"));
    }

    [Fact]
    public async Task Remove_dead_deletes_only_dead_silos_older_than_the_age()
    {
        var dead = await Membership.JoinAsync("silo-dead", "host:1", Ct);
        await Membership.JoinAsync("silo-alive", "host:2", Ct);
        await Membership.MarkDeadAsync("silo-dead", Ct);

        Assert.Equal(0, await Membership.RemoveDeadAsync(TimeSpan.FromHours(1), Ct));
        await LetStoreClockPassAsync(dead.LastHeartbeat + TimeSpan.FromMilliseconds(5));
        Assert.Equal(1, await Membership.RemoveDeadAsync(TimeSpan.Zero, Ct));

        Assert.Equal("silo-alive", Assert.Single((await Membership.ReadAllAsync(Ct)).Silos).SiloId);
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_parameter()
    {
        await ExpectArgumentErrorAsync("siloId", () => Membership.JoinAsync("", "host:1", Ct));
        await ExpectArgumentErrorAsync("address", () => Membership.JoinAsync("silo-a", "", Ct));
        await ExpectArgumentErrorAsync("siloId", () => Membership.HeartbeatAsync(null!, Ct));
        await ExpectArgumentErrorAsync("status", () => Membership.SetStatusAsync("silo-a", (SiloStatus)42, Ct));
        await ExpectArgumentErrorAsync("siloId", () => Membership.MarkDeadAsync("", Ct));
        await ExpectArgumentErrorAsync("olderThan", () => Membership.RemoveDeadAsync(TimeSpan.FromSeconds(-1), Ct));

        Assert.Empty((await Membership.ReadAllAsync(Ct)).Silos);
    }
}
