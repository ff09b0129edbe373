using System.Text.Json;
using Trellis.TestKit;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Grains.Apps;
using Trellis.Grains.Tests.Support;
using Trellis.Storage;
using Xunit;

namespace Trellis.Grains.Tests.Apps;

/// <summary>Apps with %gall semantics on a two-silo Orleans cluster: pokes, watches, peeks, children, wipe, upgrades,
/// remote agents. Each storage provider is a subclass.</summary>
public abstract class AppSuite : IDisposable
{
    private readonly TempFolder _folder = new();

    /// <summary>Makes the storage under test the silo's default grain storage; <paramref name="folder"/> is the test's own.</summary>
    protected abstract void UseStorage(ISiloBuilder silo, string folder);

    /// <summary>True when the storage outlives the silos, so a test may restart the whole cluster.</summary>
    protected virtual bool StorageOutlivesSilos => false;

    public void Dispose() => _folder.Dispose();

    protected Task<AppCluster> StartAsync(Action<AppAgents>? more = null) =>
        AppCluster.StartAsync(silo => UseStorage(silo, _folder.Path), TestAgents.Create(more));

    protected static JsonElement J(object value) => JsonSerializer.SerializeToElement(value);

    protected static string NewApp(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..30];

    [Fact]
    public async Task A_watch_whose_reader_falls_behind_ends_with_a_kick_and_leaves()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.AppsWithWatchCapacity(8);
        var app = NewApp("slow");
        Assert.Equal(Codes.Ok, (await apps.CreateAsync(app, "counter")).Code);
        await using var watch = await apps.WatchAsync(app, "/count");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(Codes.Ok, (await apps.PokeAsync(app, "add", J(new { by = 1 }))).Code);
        }

        // Facts come off the app's stream a little after the acks: nobody reads until the watch has had its fill.
        await Waits.UntilAsync(
            () => Task.FromResult(watch.Events.Count), n => n == 9, $"the unread watch {watch.Subscriber} to hold 8 events and its kick");
        var events = await ReadToEndAsync(watch);

        Assert.Equal(9, events.Count);
        Assert.Equal("watch-ack", events[0].Kind);
        Assert.All(events.Skip(1).SkipLast(1), e => Assert.Equal("fact", e.Kind));
        Assert.Equal("kick", events[^1].Kind);
        Assert.Contains("too slow", events[^1].Data!.Value.GetProperty("reason").GetString());
        await Waits.UntilAsync(
            () => SubscribersAsync(cluster.Apps, app), n => n == 0, $"the slow watch {watch.Subscriber} to leave {app} (expected 0 subscribers)");
    }

    [Fact]
    public async Task A_poke_is_acked_once_its_state_is_stored_and_a_bad_one_is_nacked_with_its_error()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var app = NewApp("counter");
        Assert.Equal(Codes.Ok, (await apps.CreateAsync(app, "counter")).Code);

        var ack = await apps.PokeAsync(app, "add", J(new { by = 5 }));
        Assert.Equal(Codes.Ok, ack.Code);
        Assert.True(ack.Data.ToJsonElement().GetProperty("ack").GetBoolean());

        var nack = await apps.PokeAsync(app, "add", J(new { by = "five" }));
        Assert.Equal(Codes.BadRequest, nack.Code);
        Assert.Contains("add needs", nack.Data.ToJsonElement().GetProperty("nack").GetString());

        var unknownMark = await apps.PokeAsync(app, "explode", J(new { }));
        Assert.Equal(Codes.BadRequest, unknownMark.Code);

        var peek = await apps.PeekAsync(app, "/count");
        Assert.Equal(5, peek.Data.ToJsonElement().GetProperty("count").GetInt64());
        Assert.Equal(Codes.NotFound, (await apps.PeekAsync(app, "/nothing")).Code);

        // The ack came after the write: the storage holds the new state, which a fresh activation reads back.
        var stored = await cluster.StoredAsync(app);
        Assert.Contains("\"count\":5", stored.State?.State ?? "(no state)");
        await cluster.Cluster.DeactivateAsync(cluster.Client.GetGrain<IAppGrain>(app));
        Assert.Equal(5, (await apps.PeekAsync(app, "/count")).Data.ToJsonElement().GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task A_retried_poke_with_the_same_id_is_absorbed()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var app = NewApp("counter");
        await apps.CreateAsync(app, "counter");

        await apps.PokeAsync(app, "add", J(new { by = 1 }), messageId: "poke-1");
        var again = await apps.PokeAsync(app, "add", J(new { by = 1 }), messageId: "poke-1");

        Assert.True(again.Data.ToJsonElement().GetProperty("duplicate").GetBoolean());
        Assert.Equal(1, (await apps.PeekAsync(app, "/count")).Data.ToJsonElement().GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task Apps_that_do_not_exist_say_so_and_names_are_checked()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;

        Assert.Equal(Codes.NotFound, (await apps.PokeAsync(NewApp("ghost"), "add", J(new { by = 1 }))).Code);
        Assert.Throws<TrellisException>(() => AppPath.Validate("Bad Name"));
        Assert.Throws<TrellisException>(() => AppPath.Validate("a//b"));
        var create = await apps.CreateAsync(NewApp("x"), "counter");
        var again = await apps.CreateAsync(create.Data.ToJsonElement().GetProperty("app").GetString()!, "chat");
        Assert.Equal(Codes.BadRequest, again.Code);
        Assert.Contains("runs the agent 'counter'", again.Data.ToJsonElement().GetString());
    }

    [Theory]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("room/.")]
    [InlineData("room/..")]
    [InlineData("room/../other")]
    [InlineData("./room")]
    public async Task App_names_with_a_dot_or_dot_dot_segment_are_refused(string name)
    {
        var e = Assert.Throws<TrellisException>(() => AppPath.Validate(name));
        Assert.Contains("'.' and '..' are not names", e.Message);

        await using var cluster = await StartAsync();
        await Assert.ThrowsAsync<TrellisException>(() => cluster.Apps.CreateAsync(name, "counter"));
        // A caller that reaches the grain without the client's check is refused by the app itself, and nothing is stored.
        var direct = await cluster.Client.GetGrain<IAppGrain>(name).Call(new AppCall("create", """{"agent":"counter"}""", "create-1"));
        Assert.Equal(Codes.BadRequest, direct.Code);
        Assert.Contains("'.' and '..' are not names", direct.ToMessage().Data.ToJsonElement().GetString());
        Assert.False((await cluster.StoredAsync(name)).RecordExists, $"app '{name}' must not be stored");
    }

    [Fact]
    public async Task A_watch_gets_its_ack_then_initial_facts_only_for_itself_then_facts_until_it_leaves()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var app = NewApp("counter");
        await apps.CreateAsync(app, "counter");
        await apps.PokeAsync(app, "add", J(new { by = 2 }));

        await using var first = await apps.WatchAsync(app, "/count");
        Assert.Equal("watch-ack", (await Next(first)).Kind);
        Assert.Equal(2, (await Next(first)).Data!.Value.GetProperty("count").GetInt64());

        await apps.PokeAsync(app, "add", J(new { by = 1 }));
        Assert.Equal(3, (await Next(first)).Data!.Value.GetProperty("count").GetInt64());

        await using var second = await apps.WatchAsync(app, "/count");
        Assert.Equal("watch-ack", (await Next(second)).Kind);
        Assert.Equal(3, (await Next(second)).Data!.Value.GetProperty("count").GetInt64());

        await apps.PokeAsync(app, "add", J(new { by = 10 }));
        Assert.Equal(13, (await Next(first)).Data!.Value.GetProperty("count").GetInt64()); // not the second watcher's snapshot
        Assert.Equal(13, (await Next(second)).Data!.Value.GetProperty("count").GetInt64());

        await first.DisposeAsync();
        Assert.Equal(1, await SubscribersAsync(apps, app));
    }

    [Fact]
    public async Task A_refused_watch_never_starts_a_subscription()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var app = NewApp("counter");
        await apps.CreateAsync(app, "counter");

        var e = await Assert.ThrowsAsync<AppNackException>(() => apps.WatchAsync(app, "/secret"));
        Assert.Equal(Codes.BadRequest, e.Reply.Code);
        Assert.Contains("/secret", e.Message);
        Assert.Equal(0, await SubscribersAsync(apps, app));
    }

    [Fact]
    public async Task A_kick_ends_the_subscription()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var app = NewApp("kicker");
        await apps.CreateAsync(app, "kicker");
        await using var watch = await apps.WatchAsync(app, "/news");
        Assert.Equal("watch-ack", (await Next(watch)).Kind);

        await apps.PokeAsync(app, "news", J("hello"));
        Assert.Equal("hello", (await Next(watch)).Data!.Value.GetString());
        await apps.PokeAsync(app, "kick", J(new { }));
        Assert.Equal("kick", (await Next(watch)).Kind);
        Assert.False(await watch.Events.WaitToReadAsync().AsTask().Within($"the watch on {app}/news to complete after its kick"));
        Assert.Equal(0, await SubscribersAsync(apps, app));
    }

    [Fact]
    public async Task A_chat_room_gives_new_watchers_its_history_and_everyone_the_new_lines()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var room = NewApp("room");
        await apps.CreateAsync(room, "chat", J(new { topic = "ops" }));
        await apps.PokeAsync(room, "say", J(new { from = "ann", text = "hi" }));

        await using var bob = await apps.WatchAsync(room, "/messages");
        await Next(bob);
        Assert.Equal("hi", (await Next(bob)).Data!.Value.GetProperty("text").GetString());
        await using var cy = await apps.WatchAsync(room, "/messages");
        await Next(cy);
        await Next(cy);

        await apps.PokeAsync(room, "say", J(new { from = "bob", text = "hello all" }));
        Assert.Equal("hello all", (await Next(bob)).Data!.Value.GetProperty("text").GetString());
        Assert.Equal("hello all", (await Next(cy)).Data!.Value.GetProperty("text").GetString());
        Assert.Equal(2, (await apps.PeekAsync(room, "/messages")).Data.ToJsonElement().GetArrayLength());
        Assert.Equal(Codes.BadRequest, (await apps.PokeAsync(room, "say", J(new { from = "x" }))).Code);
    }

    [Fact]
    public async Task A_parent_creates_children_and_killing_it_takes_them_along()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var parent = NewApp("family");
        await apps.CreateAsync(parent, "parent");

        await apps.PokeAsync(parent, "spawn", J(new { name = "kid1", agent = "counter" }));
        await apps.PokeAsync(parent, "spawn", J(new { name = "kid2", agent = "parent" }));
        await Waits.UntilAsync(() => apps.PokeAsync($"{parent}/kid1", "add", J(new { by = 3 })), r => r.Code == Codes.Ok, $"{parent}/kid1 to exist (expected a 200 to a poke)");
        await Waits.UntilAsync(() => apps.PokeAsync($"{parent}/kid2", "spawn", J(new { name = "grandkid" })), r => r.Code == Codes.Ok, $"{parent}/kid2 to exist (expected a 200 to a poke)");
        await Waits.UntilAsync(() => apps.PeekAsync($"{parent}/kid2/grandkid", "/count"), r => r.Code == Codes.Ok, $"{parent}/kid2/grandkid to exist (expected a 200 to a peek)");
        var info = (await apps.InfoAsync(parent)).Data.ToJsonElement();
        Assert.Equal(2, info.GetProperty("children").GetArrayLength());

        Assert.Equal(Codes.Ok, (await apps.KillAsync(parent)).Code);

        Assert.Equal(Codes.NotFound, (await apps.PeekAsync(parent, "/children")).Code);
        await Waits.UntilAsync(() => apps.PeekAsync($"{parent}/kid1", "/count"), r => r.Code == Codes.NotFound, $"{parent}/kid1 to be killed with its parent (expected 404)");
        await Waits.UntilAsync(() => apps.PeekAsync($"{parent}/kid2/grandkid", "/count"), r => r.Code == Codes.NotFound, $"{parent}/kid2/grandkid to be killed too (expected 404)");
    }

    [Fact]
    public async Task Wipe_resets_the_state_and_kicks_the_watchers()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var app = NewApp("counter");
        await apps.CreateAsync(app, "counter");
        await apps.PokeAsync(app, "add", J(new { by = 9 }));
        await using var watch = await apps.WatchAsync(app, "/count");
        await Next(watch);
        await Next(watch);

        Assert.Equal(Codes.Ok, (await apps.WipeAsync(app)).Code);

        Assert.Equal("kick", (await Next(watch)).Kind);
        Assert.Equal(0, (await apps.PeekAsync(app, "/count")).Data.ToJsonElement().GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task An_app_gets_answers_to_its_own_pokes_and_watches()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var tally = NewApp("tally");
        var counter = NewApp("counter");
        await apps.CreateAsync(tally, "tally");
        await apps.CreateAsync(counter, "counter");

        await apps.PokeAsync(tally, "watch", J(new { app = counter, path = "/count" }));
        await apps.PokeAsync(tally, "poke", J(new { app = counter, mark = "add", data = new { by = 4 } }));
        await apps.PokeAsync(tally, "poke", J(new { app = counter, mark = "bogus", data = new { } }));

        var signs = await Waits.UntilAsync(
            async () => Signs(await apps.PeekAsync(tally, "/signs")), s => s.Count >= 5, $"five signs at {tally} from {counter}");
        Assert.Equal($"watch-ack:w1:{counter}:ok:", signs[0]);
        Assert.Equal($"fact:w1:{counter}:ok:{{\"count\":0}}", signs[1]); // the initial fact, after the ack
        Assert.Contains($"poke-ack:p1:{counter}:ok:", signs);
        Assert.Contains($"fact:w1:{counter}:ok:{{\"count\":4}}", signs);
        Assert.Contains($"poke-ack:p1:{counter}:error:", signs);
    }

    [Fact]
    public async Task An_app_is_told_when_its_poke_or_watch_is_refused_even_with_nothing_else_under_way()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var tally = NewApp("tally");
        var counter = NewApp("counter");
        await apps.CreateAsync(tally, "tally");
        await apps.CreateAsync(counter, "counter");

        // The refusal is the only thing the counter owes anyone: no earlier delivery is under way to carry it along.
        await apps.PokeAsync(tally, "poke", J(new { app = counter, mark = "bogus", data = new { } }));
        await Waits.UntilAsync(
            async () => Signs(await apps.PeekAsync(tally, "/signs")), s => s.Contains($"poke-ack:p1:{counter}:error:"),
            $"the nack of {counter} to the poke p1 of {tally} (expected poke-ack:p1:{counter}:error:)");

        await apps.PokeAsync(tally, "watch", J(new { app = counter, path = "/secret" }));
        await Waits.UntilAsync(
            async () => Signs(await apps.PeekAsync(tally, "/signs")), s => s.Contains($"watch-ack:w1:{counter}:error:"),
            $"the refusal of {counter} to the watch w1 of {tally} on /secret (expected watch-ack:w1:{counter}:error:)");
        Assert.Equal(0, await SubscribersAsync(apps, counter));
    }

    [Fact]
    public async Task An_app_that_pokes_or_watches_an_app_that_does_not_exist_gets_a_nack()
    {
        await using var cluster = await StartAsync();
        var apps = cluster.Apps;
        var tally = NewApp("tally");
        var nobody = NewApp("nobody");
        await apps.CreateAsync(tally, "tally");

        await apps.PokeAsync(tally, "poke", J(new { app = nobody, mark = "add", data = new { by = 1 } }));
        await apps.PokeAsync(tally, "watch", J(new { app = nobody, path = "/count" }));
        var signs = await Waits.UntilAsync(
            async () => Signs(await apps.PeekAsync(tally, "/signs")), s => s.Count >= 2,
            $"the nacks for the poke and the watch {tally} sent to {nobody}, which does not exist (expected 2 signs)");
        Assert.Contains($"poke-ack:p1:{nobody}:error:", signs);
        Assert.Contains($"watch-ack:w1:{nobody}:error:", signs);
        Assert.Equal(Codes.NotFound, (await apps.InfoAsync(nobody)).Code);
    }

    [Fact]
    public async Task The_upgrade_hook_gets_the_old_state_and_version_when_the_agent_changes_version()
    {
        var deployed = new DeployableAgent();
        await using var cluster = await StartAsync(a => a.Add("evolving", deployed));
        var app = NewApp("evolving");
        await cluster.Apps.CreateAsync(app, "evolving");
        await cluster.Apps.PokeAsync(app, "set", J(7));

        // New code reaches the silos; the app meets it in its next activation (after a restart where the storage allows one).
        deployed.Upgrade();
        if (StorageOutlivesSilos)
        {
            await cluster.RestartAsync();
        }
        else
        {
            await cluster.Cluster.DeactivateAsync(cluster.Client.GetGrain<IAppGrain>(app));
        }

        var apps = cluster.Apps;
        Assert.Equal(Codes.Ok, (await apps.PokeAsync(app, "add", J(8))).Code);

        var state = (await apps.PeekAsync(app, "/")).Data.ToJsonElement();
        Assert.Equal("1", state.GetProperty("upgradedFrom").GetString());
        Assert.Equal([7, 8], state.GetProperty("numbers").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("2", (await apps.InfoAsync(app)).Data.ToJsonElement().GetProperty("version").GetString());
    }

    [Fact]
    public async Task A_remote_agent_served_on_the_bus_runs_an_app_whose_state_the_cluster_keeps()
    {
        await using var cluster = await StartAsync();
        var calls = new List<string>();
        await using var service = await cluster.Bus.ReplyToAsync(RemoteAgent.Topic("remote-counter"), "_default", (request, _) =>
        {
            var e = request.Data.ToJsonElement();
            var kind = e.GetProperty("event").GetString()!;
            lock (calls)
            {
                calls.Add(kind);
            }

            var count = e.TryGetProperty("state", out var s) && s.ValueKind == JsonValueKind.Object ? s.GetProperty("n").GetInt32() : 0;
            object reply = kind switch
            {
                "describe" => new { version = "3" },
                "init" => new { state = new { n = 0 } },
                "poke" when e.GetProperty("mark").GetString() == "inc" => new { state = new { n = count + 1 }, effects = new object[] { new { fact = new { path = "/n", data = count + 1 } } } },
                "peek" => new { peek = new { n = count } },
                _ => "unknown",
            };
            return ValueTask.FromResult(reply is string text ? Message.Error(Codes.BadRequest, text) : Message.Ok(JsonPayload.From(reply)));
        });
        var apps = cluster.Apps;
        var app = NewApp("remote");

        Assert.Equal(Codes.Ok, (await apps.CreateAsync(app, "remote-counter")).Code);
        Assert.Equal(Codes.Ok, (await apps.PokeAsync(app, "inc", J(new { }))).Code);
        Assert.Equal(Codes.Ok, (await apps.PokeAsync(app, "inc", J(new { }))).Code);
        var nack = await apps.PokeAsync(app, "dec", J(new { }));

        Assert.Equal(Codes.BadRequest, nack.Code);
        Assert.Contains("unknown", nack.Data.ToString());
        Assert.Equal(2, (await apps.PeekAsync(app, "/n")).Data.ToJsonElement().GetProperty("n").GetInt32());
        Assert.Contains("\"n\":2", (await cluster.StoredAsync(app)).State?.State ?? "(no state)");
        Assert.Equal("3", (await apps.InfoAsync(app)).Data.ToJsonElement().GetProperty("version").GetString());
        lock (calls)
        {
            Assert.Equal(["describe", "init", "poke", "poke", "poke", "peek"], calls);
        }
    }

    protected static async Task<int> SubscribersAsync(AppClient apps, string app) =>
        (await apps.InfoAsync(app)).Data.ToJsonElement().GetProperty("subscribers").GetArrayLength();

    protected static List<string> Signs(Message peek) => peek.Data.ToJsonElement().EnumerateArray().Select(e => e.GetString()!).ToList();

    protected static async Task<AppWatchEvent> Next(AppWatch watch) =>
        await watch.Events.ReadAsync().AsTask().Within($"the next event of the watch {watch.Subscriber} on {watch.App}{watch.Path}");

    private static async Task<List<AppWatchEvent>> ReadToEndAsync(AppWatch watch)
    {
        var events = new List<AppWatchEvent>();
        while (await watch.Events.WaitToReadAsync().AsTask().Within($"the watch {watch.Subscriber} on {watch.App}{watch.Path} to end (have {events.Count} events)"))
        {
            while (watch.Events.TryRead(out var e))
            {
                events.Add(e);
            }
        }

        return events;
    }
}

public sealed class AppsOnMemoryStorage : AppSuite
{
    protected override void UseStorage(ISiloBuilder silo, string folder) => silo.AddMemoryGrainStorageAsDefault();
}

public sealed class AppsOnSqliteStorage : AppSuite
{
    protected override bool StorageOutlivesSilos => true;

    protected override void UseStorage(ISiloBuilder silo, string folder) => silo.AddTrellisSqliteGrainStorageAsDefault(Path.Combine(folder, "grains.db"));
}
