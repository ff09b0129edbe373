using Trellis.Core.Errors;
using Trellis.Core.Grains;
using Trellis.Core.Messaging;
using Trellis.TestKit.Grains;
using Trellis.TestKit;
using Xunit;
using static Trellis.Core.Tests.Grains.GrainTestData;

namespace Trellis.Core.Tests.Grains;

public sealed class GrainRuntimeTests
{
    private static TestClusterOptions Options(Action<GrainsOptions>? tweak = null)
    {
        var runtime = TestClusterOptions.Fast();
        tweak?.Invoke(runtime);
        return new TestClusterOptions { Grains = Register, Runtime = runtime };
    }

    [Fact]
    public async Task A_call_activates_the_grain_and_its_state_outlives_the_activation()
    {
        await using var cluster = await TestCluster.StartAsync(1, Options());
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
        await using var cluster = await TestCluster.StartAsync(1, Options(o => o.IdleTimeout = TimeSpan.FromMilliseconds(300)));
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
    public void The_default_idle_age_is_fifteen_minutes() =>
        Assert.Equal(TimeSpan.FromMinutes(15), new GrainsOptions().IdleTimeout);

    [Fact]
    public async Task One_turn_at_a_time_unless_the_type_is_reentrant()
    {
        await using var cluster = await TestCluster.StartAsync(1, Options());
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
        await using var cluster = await TestCluster.StartAsync(1, Options());
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

    [Theory]
    [InlineData("")]
    [InlineData("Upper")]
    [InlineData("has space")]
    [InlineData("9starts-with-digit")]
    public void Bad_grain_types_are_refused_with_a_message(string type)
    {
        var e = Assert.Throws<TrellisException>(() => GrainId.Create(type, "k"));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("grain type", e.Message);
    }

    [Fact]
    public void Grain_ids_parse_and_spread_over_shards()
    {
        var id = GrainId.Parse("app/chat/room-1");
        Assert.Equal("app", id.Type);
        Assert.Equal("chat/room-1", id.Key);
        Assert.Equal(id.ShardOf(64), GrainId.Create("app", "chat/room-1").ShardOf(64));
        Assert.Throws<TrellisException>(() => GrainId.Parse("no-slash"));
        Assert.Throws<TrellisException>(() => GrainId.Create("t", new string('k', 401)));
        Assert.Throws<TrellisException>(() => GrainId.Create("t", "a\nb"));

        var counts = new int[16];
        for (var i = 0; i < 16_000; i++)
        {
            counts[GrainId.Create("counter", $"key-{i}").ShardOf(16)]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public async Task Timers_run_as_turns_and_stop_with_the_activation()
    {
        await using var cluster = await TestCluster.StartAsync(1, Options());
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
        await using var cluster = await TestCluster.StartAsync(1, Options());
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
        await using var cluster = await TestCluster.StartAsync(1, Options());
        var grain = GrainId.Create("ticking", NewKey());
        await cluster.Client.CallAsync(grain, "remind", JsonPayload.From(new { dueMs = 60_000, periodMs = 300 }));
        var entry = await cluster.Store.Reminders.ReadAsync("ticking", grain.Key, "r");
        Assert.NotNull(entry);

        // Pretend the reminder was due two seconds ago and the cluster was down since: about six periods missed.
        await cluster.StopSiloAsync(0);
        await cluster.Store.Reminders.UpsertAsync(entry with { StartAt = DateTimeOffset.UtcNow - TimeSpan.FromSeconds(2) });
        await cluster.StartSiloAsync();

        await WaitUntil(() => TickingGrain.Reminded.GetValueOrDefault(grain.Key)?.Count >= 1, "the missed reminder");
        await Task.Delay(150);
        Assert.Single(TickingGrain.Reminded[grain.Key]);
        await WaitUntil(() => TickingGrain.Reminded[grain.Key].Count >= 2, "the next period's reminder");
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
