using System.Text.Json;
using Trellis.TestKit;
using Trellis.Core.Messaging;
using Trellis.Grains.Apps;
using Trellis.Grains.Tests.Support;
using Trellis.Storage;
using Xunit;

namespace Trellis.Grains.Tests.Apps;

/// <summary>What Orleans changes for apps: they live on different silos, call each other from their outboxes, and a
/// client's call can outlive its timeout or find no silo at all.</summary>
public abstract class AppsAcrossSilosSuite : IDisposable
{
    private readonly TempFolder _folder = new();

    /// <summary>Makes the storage under test the silo's default grain storage; <paramref name="folder"/> is the test's own.</summary>
    protected abstract void UseStorage(ISiloBuilder silo, string folder);

    public void Dispose() => _folder.Dispose();

    private Task<AppCluster> StartAsync(Action<AppAgents>? more = null) =>
        AppCluster.StartAsync(silo => UseStorage(silo, _folder.Path), TestAgents.Create(more));

    private static JsonElement J(object value) => JsonSerializer.SerializeToElement(value);

    private static string NewApp(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..30];

    [Fact]
    public async Task Effects_reach_an_app_that_lives_on_the_other_silo_and_its_answers_come_back()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var tally = NewApp("tally");
        var counter = NewApp("counter");
        await apps.CreateAsync(tally, "tally");
        await apps.CreateAsync(counter, "counter");
        var counterSilo = await cluster.MoveAwayFromAsync(counter, tally);
        Assert.NotEqual(cluster.SiloOf(tally), counterSilo);

        await apps.PokeAsync(tally, "watch", J(new { app = counter, path = "/count" }));
        await apps.PokeAsync(tally, "poke", J(new { app = counter, mark = "add", data = new { by = 4 } }));

        var signs = await Waits.UntilAsync(
            async () => (await apps.PeekAsync(tally, "/signs")).Data.ToJsonElement().EnumerateArray().Select(e => e.GetString()!).ToList(),
            s => s.Count >= 4, $"four signs at {tally} (silo {cluster.SiloOf(tally)}) from {counter} (silo {counterSilo})");
        Assert.Equal($"watch-ack:w1:{counter}:ok:", signs[0]);
        Assert.Equal($"fact:w1:{counter}:ok:{{\"count\":0}}", signs[1]);
        Assert.Contains($"poke-ack:p1:{counter}:ok:", signs);
        Assert.Contains($"fact:w1:{counter}:ok:{{\"count\":4}}", signs);
        Assert.Equal(4, (await apps.PeekAsync(counter, "/count")).Data.ToJsonElement().GetProperty("count").GetInt64());
        Assert.Equal(counterSilo, cluster.SiloOf(counter));
    }

    [Fact]
    public async Task Two_apps_poking_each_other_in_a_loop_do_not_deadlock()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var left = NewApp("left");
        var right = NewApp("right");
        await apps.CreateAsync(left, "pingpong");
        await apps.CreateAsync(right, "pingpong");
        await cluster.MoveAwayFromAsync(right, left);
        const int Rounds = 25;

        // Both serve at once: each app's pokes to the other cross the other's pokes to it, in both directions at the same time.
        var serves = await Task.WhenAll(
            apps.PokeAsync(left, "serve", J(new { to = right, rounds = Rounds }), timeout: TimeSpan.FromSeconds(10)),
            apps.PokeAsync(right, "serve", J(new { to = left, rounds = Rounds }), timeout: TimeSpan.FromSeconds(10)));
        Assert.All(serves, s => Assert.Equal(Codes.Ok, s.Code));

        // Each rally is Rounds + 1 hits (the last ball has none left); two rallies run at once.
        await Waits.UntilAsync(
            async () => await HitsAsync(apps, left) + await HitsAsync(apps, right),
            hits => hits == 2 * (Rounds + 1),
            $"two rallies between {left} and {right} to end (expected {2 * (Rounds + 1)} hits in all)");
    }

    [Fact]
    public async Task A_killed_app_leaves_no_record_and_neither_do_its_children()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var parent = NewApp("family");
        await apps.CreateAsync(parent, "parent");
        await apps.PokeAsync(parent, "spawn", J(new { name = "kid", agent = "counter" }));
        var kid = $"{parent}/kid";
        await Waits.UntilAsync(() => apps.PeekAsync(kid, "/count"), r => r.Code == Codes.Ok, $"{kid} to exist (expected 200 to a peek)");
        Assert.True((await cluster.StoredAsync(parent)).RecordExists, $"{parent} must be stored before its kill");

        Assert.Equal(Codes.Ok, (await apps.KillAsync(parent)).Code);

        // The parent keeps its record only until it has told its child to go.
        await Waits.UntilAsync(async () => (await cluster.StoredAsync(parent)).RecordExists, exists => !exists, $"the record of the killed {parent} to be gone");
        await Waits.UntilAsync(async () => (await cluster.StoredAsync(kid)).RecordExists, exists => !exists, $"the record of {kid}, killed with its parent, to be gone");
        Assert.Equal(Codes.NotFound, (await apps.InfoAsync(parent)).Code);
        Assert.Equal(Codes.NotFound, (await apps.InfoAsync(kid)).Code);
        Assert.False((await cluster.StoredAsync(parent)).RecordExists, $"asking a killed app {parent} must not bring its record back");
    }

    [Fact]
    public async Task A_call_that_outlives_the_client_timeout_is_499_and_its_retry_with_the_same_id_is_absorbed()
    {
        var gate = new GateAgent();
        await using var cluster = await StartAsync(a => a.Add("gate", gate));
        var apps = cluster.Apps;
        var app = NewApp("gate");
        await apps.CreateAsync(app, "gate");

        var late = await apps.PokeAsync(app, "wait", J(new { }), messageId: "wait-1", timeout: TimeSpan.FromMilliseconds(300));
        Assert.Equal(Codes.RequestTimeout, late.Code);
        Assert.Contains("retry with the same id", late.Data.ToString());
        await gate.Entered.Within($"the poke wait-1 to reach the gate of {app}");

        gate.Open();
        // The first call still runs to its end; the retry finds it done.
        var retry = await apps.PokeAsync(app, "wait", J(new { }), messageId: "wait-1");
        Assert.Equal(Codes.Ok, retry.Code);
        Assert.True(retry.Data.ToJsonElement().GetProperty("duplicate").GetBoolean(), $"retry of wait-1 at {app}: expected duplicate, got {retry.Data}");
        Assert.Equal(1, (await apps.PeekAsync(app, "/")).Data.ToJsonElement().GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task A_client_whose_cluster_is_gone_gets_503()
    {
        await using var cluster = await StartAsync();
        cluster.ExpectedErrors = static _ => true;
        var app = NewApp("counter");
        await cluster.Apps.CreateAsync(app, "counter");

        await cluster.Cluster.StopSilosAsync().Within("every silo to stop");

        var reply = await cluster.Apps.PokeAsync(app, "add", J(new { by = 1 }), timeout: TimeSpan.FromSeconds(15)).Within($"a poke of {app} with no silo left to answer");
        Assert.True(reply.Code == Codes.Unavailable, $"poke of {app} with every silo stopped: expected 503, got {reply.Code} {reply.Data}");
    }

    private static async Task<int> HitsAsync(AppClient apps, string app) =>
        (await apps.PeekAsync(app, "/hits")).Data.ToJsonElement().GetProperty("hits").GetInt32();
}

public sealed class AppsAcrossSilosOnMemoryStorage : AppsAcrossSilosSuite
{
    protected override void UseStorage(ISiloBuilder silo, string folder) => silo.AddMemoryGrainStorageAsDefault();
}

public sealed class AppsAcrossSilosOnSqliteStorage : AppsAcrossSilosSuite
{
    protected override void UseStorage(ISiloBuilder silo, string folder) => silo.AddTrellisSqliteGrainStorageAsDefault(Path.Combine(folder, "grains.db"));
}
