using Trellis.Core.Grains;
using Trellis.Core.Messaging;
using Trellis.Core.Persistence;
using Trellis.Core.Transport;
using Trellis.TestKit.Grains;
using Xunit;
using static Trellis.TestKit.Grains.GrainTestData;

namespace Trellis.TestKit.Grains;

/// <summary>Shard placement, hand-over and failover with single activation, on one store.</summary>
public abstract class PlacementSuite
{
    /// <summary>Opens a fresh, empty store on the real clock.</summary>
    protected abstract ValueTask<IStateStore> OpenStoreAsync();

    /// <summary>Creates a transport per process of the cluster; null puts them all on one in-process broker.</summary>
    protected virtual Func<ITransport>? Transport => null;

    private async Task<TestCluster> StartAsync(int silos) =>
        await TestCluster.StartAsync(silos, new TestClusterOptions { Grains = Register, Runtime = TestClusterOptions.Fast(), Store = await OpenStoreAsync(), OwnsStore = true, Transport = Transport });

    [Fact]
    public async Task Every_shard_is_held_by_exactly_one_silo_and_grains_of_all_shards_answer()
    {
        await using var cluster = await StartAsync(3);
        // Counting activations needs the shards to stay put: while the silos still balance, a shard handed over takes
        // the activations made on its old holder with it.
        await cluster.WaitForBalanceAsync("three silos to share the shards");
        var grains = Enumerable.Range(0, 64).Select(i => GrainId.Create("counter", $"{NewKey()}-{i}")).ToArray();

        var replies = await Task.WhenAll(grains.Select(g => cluster.Client.CallAsync(g, "add", Add(1))));

        Assert.All(replies, r => Assert.Equal(1, r.Value()));
        Assert.Equal(64, cluster.Silos.Sum(s => s!.ActivationCount));
        Assert.Empty(cluster.History.Overlaps);
    }

    [Fact]
    public async Task A_joining_silo_takes_its_share_and_a_stopping_one_hands_its_shards_over()
    {
        await using var cluster = await StartAsync(2);
        var grain = GrainId.Create("counter", NewKey());
        await cluster.Client.CallAsync(grain, "add", Add(5));

        await cluster.StartSiloAsync();
        await cluster.WaitForBalanceAsync("the third silo to take its share");
        Assert.All(cluster.Silos, s => Assert.True(s!.OwnedShards.Count > 0, $"{s.SiloId} holds no shard"));

        var owner = cluster.OwnerOf(grain)!;
        await cluster.StopSiloAsync(cluster.IndexOf(owner));
        await cluster.WaitForBalanceAsync("the shards of the stopped silo to move", TimeSpan.FromSeconds(10));

        Assert.Equal(12, (await cluster.Client.CallAsync(grain, "add", Add(7))).Value());
        Assert.NotSame(owner, cluster.OwnerOf(grain));
        Assert.Empty(cluster.History.Overlaps);
    }

    [Fact]
    public async Task When_a_silo_dies_its_grains_come_back_elsewhere_with_their_state_and_waiting_calls_complete()
    {
        await using var cluster = await StartAsync(3);
        var grains = Enumerable.Range(0, 30).Select(i => GrainId.Create("counter", $"{NewKey()}-{i}")).ToArray();
        foreach (var g in grains)
        {
            await cluster.Client.CallAsync(g, "add", Add(10));
        }

        var victim = cluster.OwnerOf(grains[0])!;
        var victimGrains = grains.Where(g => cluster.OwnerOf(g) == victim).ToArray();
        await cluster.KillSiloAsync(cluster.IndexOf(victim));

        // These wait in the durable shard queues until the survivors take the shards.
        var replies = await Task.WhenAll(grains.Select(g => cluster.Client.CallAsync(g, "add", Add(1))));

        Assert.All(replies, r => Assert.Equal(11, r.Value()));
        Assert.NotEmpty(victimGrains);
        Assert.All(victimGrains, g => Assert.NotSame(victim, cluster.OwnerOf(g)));
        Assert.Empty(cluster.History.Overlaps);
        await cluster.WaitForBalanceAsync("the survivors to share all shards");
    }

    [Fact]
    public async Task A_dead_silos_shards_move_once_its_leases_expire_without_waiting_for_it_to_be_declared_dead()
    {
        // The survivors hold their fair share already; the dead silo still counts as a member until SiloDeadAfter.
        // Its expired leases must be taken anyway, or failover would last SiloDeadAfter instead of LeaseTtl.
        var runtime = TestClusterOptions.Fast();
        runtime.SiloDeadAfter = TimeSpan.FromSeconds(30);
        runtime.CallTimeout = TimeSpan.FromSeconds(40);
        await using var cluster = await TestCluster.StartAsync(3, new TestClusterOptions { Grains = Register, Runtime = runtime, Store = await OpenStoreAsync(), OwnsStore = true, Transport = Transport });
        var grains = Enumerable.Range(0, 30).Select(i => GrainId.Create("counter", $"{NewKey()}-{i}")).ToArray();
        foreach (var g in grains)
        {
            await cluster.Client.CallAsync(g, "add", Add(10));
        }

        var victim = cluster.OwnerOf(grains[0])!;
        await cluster.KillSiloAsync(cluster.IndexOf(victim));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var replies = await Task.WhenAll(grains.Select(g => cluster.Client.CallAsync(g, "add", Add(1))));

        Assert.All(replies, r => Assert.Equal(11, r.Value()));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15),
            $"the calls to the dead silo's grains took {clock.Elapsed.TotalSeconds:F1} s with leases of {runtime.LeaseTtl.TotalSeconds} s: the survivors waited for the death to be declared");
        Assert.Empty(cluster.History.Overlaps);
    }

    [Fact]
    public async Task A_turn_cut_short_by_a_crash_cannot_write_and_its_call_runs_once_on_the_next_owner()
    {
        await using var cluster = await StartAsync(2);
        var grain = GrainId.Create("counter", NewKey());
        await cluster.Client.CallAsync(grain, "add", Add(1));
        var gate = new TaskCompletionSource();
        CounterGrain.Gates[grain.Key] = gate;

        var call = cluster.Client.CallAsync(grain, "add", Add(100), messageId: "the-one-call");
        await Task.Delay(100); // the call is now blocked inside the owner's turn
        var owner = cluster.OwnerOf(grain)!;
        await cluster.KillSiloAsync(cluster.IndexOf(owner));
        gate.SetResult(); // the old turn resumes and tries to write: refused, the shard is gone

        var reply = await call;
        Assert.Equal(101, reply.Value());
        Assert.Equal(2, reply.Json().GetProperty("version").GetInt64());
        Assert.Equal(101, (await cluster.Client.CallAsync(grain, "get", JsonPayload.Null)).Value());
        CounterGrain.Gates.TryRemove(grain.Key, out _);
    }

    [Fact]
    public async Task A_retried_call_with_the_same_id_is_absorbed_by_a_grain_that_remembers_ids()
    {
        await using var cluster = await StartAsync(1);
        var grain = GrainId.Create("counter", NewKey());

        await cluster.Client.CallAsync(grain, "add", Add(3), messageId: "once");
        var again = await cluster.Client.CallAsync(grain, "add", Add(3), messageId: "once");

        Assert.Equal(3, again.Value());
    }

    [Fact]
    public async Task Calls_made_before_any_silo_runs_wait_for_one()
    {
        await using var cluster = await StartAsync(0);
        var grain = GrainId.Create("counter", NewKey());

        var call = cluster.Client.CallAsync(grain, "add", Add(4));
        await Task.Delay(100);
        Assert.False(call.IsCompleted);
        await cluster.StartSiloAsync();

        Assert.Equal(4, (await call).Value());
    }
}
