using Trellis.Core.Persistence;
using Trellis.Core.Transport;
using Trellis.Core.Grains;
using Trellis.Core.Messaging;
using Trellis.TestKit.Grains;
using Trellis.TestKit;
using Xunit;
using static Trellis.TestKit.Grains.GrainTestData;

namespace Trellis.TestKit.Grains;

/// <summary>The grain runtime's behaviour on one store: activation, turns, idle collection, timers, reminders, errors.</summary>
/// <remarks>A store's test class derives from this and opens a fresh store per cluster.</remarks>
public abstract class GrainRuntimeSuite
{
    /// <summary>Opens a fresh, empty store on the real clock.</summary>
    protected abstract ValueTask<IStateStore> OpenStoreAsync();

    /// <summary>Creates a transport per process of the cluster; null puts them all on one in-process broker.</summary>
    protected virtual Func<ITransport>? Transport => null;

    private async Task<TestCluster> StartAsync(int silos, Action<GrainsOptions>? tweak = null)
    {
        var runtime = TestClusterOptions.Fast();
        tweak?.Invoke(runtime);
        return await TestCluster.StartAsync(silos, new TestClusterOptions { Grains = Register, Runtime = runtime, Store = await OpenStoreAsync(), OwnsStore = true, Transport = Transport });
    }

    [Fact]
    public async Task A_call_activates_the_grain_and_its_state_outlives_the_activation()
    {
        await using var cluster = await StartAsync(1);
        var grain = GrainId.Create("counter", NewKey());

        Assert.Equal(2, (await cluster.Client.CallAsync(grain, "add", Add(2))).Value());
        Assert.Equal(5, (await cluster.Client.CallAsync(grain, "add", Add(3))).Value());
        Assert.Equal(1, CounterGrain.Activations[grain.Key]);

        await cluster.Client.CallAsync(grain, "deactivate", JsonPayload.Null);
        await WaitUntil(() => cluster.Silos[0]!.ActivationCount == 0, "the counter to deactivate");

        var reply = await cluster.Client.CallAsync(grain, "get", JsonPayload.Null);
        Assert.Equal(5, reply.Value());
        Assert.Equal(2, reply.Json().GetProperty("version").GetInt64());
        Assert.Equal(2, CounterGrain.Activations[grain.Key]);
    }

    [Fact]
    public async Task Idle_activations_are_collected_and_busy_ones_are_not()
    {
        await using var cluster = await StartAsync(1, o => o.IdleTimeout = TimeSpan.FromMilliseconds(300));
        var idle = GrainId.Create("counter", NewKey());
        var busy = GrainId.Create("counter", NewKey());
        await cluster.Client.CallAsync(idle, "get", JsonPayload.Null);
        await cluster.Client.CallAsync(busy, "get", JsonPayload.Null);
        var silo = cluster.Silos[0]!;
        Assert.Equal(2, silo.ActivationCount);

        await Task.Delay(350);
        await cluster.Client.CallAsync(busy, "get", JsonPayload.Null);
        Assert.Equal(1, silo.CollectIdle());
        await WaitUntil(() => silo.ActivationCount == 1, "the idle counter to be collected");
        Assert.Equal(1, CounterGrain.Activations[busy.Key]);
    }


    [Fact]
    public async Task One_turn_at_a_time_unless_the_type_is_reentrant()
    {
        await using var cluster = await StartAsync(1);
        var plain = GrainId.Create("overlap", NewKey());
        var reentrant = GrainId.Create("overlap-reentrant", NewKey());

        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => cluster.Client.CallAsync(plain, "go", JsonPayload.Null)));
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => cluster.Client.CallAsync(reentrant, "go", JsonPayload.Null)));

        Assert.Equal(1, OverlapGrain.MaxInside[plain.Key]);
        Assert.True(OverlapGrain.MaxInside[reentrant.Key] > 1, $"a reentrant grain's turns should interleave; max inside was {OverlapGrain.MaxInside[reentrant.Key]}");
    }

    [Fact]
    public async Task Errors_become_reply_codes()
    {
        await using var cluster = await StartAsync(1);
        var grain = GrainId.Create("counter", NewKey());

        var failed = await cluster.Client.CallAsync(grain, "fail", JsonPayload.Null);
        Assert.Equal(Codes.HandlerError, failed.Code);
        Assert.Contains("asked to fail", failed.Data.ToString());

        var unknownType = await cluster.Client.CallAsync(GrainId.Create("nosuchtype", "k"), "get", JsonPayload.Null);
        Assert.Equal(Codes.NotFound, unknownType.Code);
        Assert.Contains("nosuchtype", unknownType.Data.ToString());

        Assert.Equal(Codes.BadRequest, (await cluster.Client.CallAsync(grain, "nonsense", JsonPayload.Null)).Code);
        Assert.Equal(Codes.HandlerError, (await cluster.Client.CallAsync(grain, "add", JsonPayload.Parse("{\"by\":\"x\"}"))).Code);

        // The grain is still fine afterwards.
        Assert.Equal(1, (await cluster.Client.CallAsync(grain, "add", Add(1))).Value());
    }



    [Fact]
    public async Task Timers_run_as_turns_and_stop_with_the_activation()
    {
        await using var cluster = await StartAsync(1);
        var grain = GrainId.Create("ticking", NewKey());
        await cluster.Client.CallAsync(grain, "timer", JsonPayload.Null);
        await WaitUntil(() => TickingGrain.Ticks.GetValueOrDefault(grain.Key) >= 3, "three timer ticks");

        await cluster.Client.CallAsync(grain, "deactivate", JsonPayload.Null);
        await WaitUntil(() => TickingGrain.Deactivations.GetValueOrDefault(grain.Key) == 1, "the deactivation");
        var ticks = TickingGrain.Ticks[grain.Key];
        await Task.Delay(200);
        Assert.Equal(ticks, TickingGrain.Ticks[grain.Key]);
    }

    [Fact]
    public async Task Reminders_fire_periodically_and_activate_the_grain()
    {
        await using var cluster = await StartAsync(1);
        var grain = GrainId.Create("ticking", NewKey());
        await cluster.Client.CallAsync(grain, "remind", JsonPayload.From(new { dueMs = 100, periodMs = 200 }));
        await cluster.Client.CallAsync(grain, "deactivate", JsonPayload.Null);

        await WaitUntil(() => TickingGrain.Reminded.GetValueOrDefault(grain.Key)?.Count >= 3, "three reminders");
        var forgot = await cluster.Client.CallAsync(grain, "forget", JsonPayload.Null);
        Assert.True(forgot.Json().GetBoolean());
        var count = TickingGrain.Reminded[grain.Key].Count;
        await Task.Delay(500);
        Assert.InRange(TickingGrain.Reminded[grain.Key].Count, count, count + 1);

        var bad = await cluster.Client.CallAsync(grain, "bad-reminder", JsonPayload.Null);
        Assert.Equal(Codes.BadRequest, bad.Code);
        Assert.Contains("period", bad.Data.ToString());
    }

    [Fact]
    public async Task A_reminder_missed_while_no_silo_ran_fires_once_on_recovery()
    {
        await using var cluster = await StartAsync(1);
        var grain = GrainId.Create("ticking", NewKey());
        await cluster.Client.CallAsync(grain, "remind", JsonPayload.From(new { dueMs = 60_000, periodMs = 300 }));
        var entry = await cluster.Store.Reminders.ReadAsync("ticking", grain.Key, "r");
        Assert.NotNull(entry);

        // Pretend the cluster was down for six and a half periods of four seconds. Reminders keep to the grid of their
        // start time, so the missed periods fire once at recovery and the next one is due 3.6 s from now; a silo
        // starts well within that.
        var period = TimeSpan.FromSeconds(4);
        await cluster.StopSiloAsync(0);
        var startAt = DateTimeOffset.UtcNow - (6.1 * period);
        await cluster.Store.Reminders.UpsertAsync(entry with { StartAt = startAt, Period = period });
        await cluster.StartSiloAsync();

        await WaitUntil(() => TickingGrain.Reminded.GetValueOrDefault(grain.Key)?.Count >= 1, "the missed reminder");
        await Task.Delay(500);
        Assert.Single(TickingGrain.Reminded[grain.Key]);
        await WaitUntil(() => TickingGrain.Reminded[grain.Key].Count >= 2, "the next period's reminder");
        Assert.True(TickingGrain.Reminded[grain.Key].ElementAt(1) >= startAt + (7 * period) - TimeSpan.FromMilliseconds(50), "the next reminder keeps to the grid");
    }

    private static async Task WaitUntil(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {seconds} s waiting for {what}");
            }

            await Task.Delay(20);
        }
    }
}
