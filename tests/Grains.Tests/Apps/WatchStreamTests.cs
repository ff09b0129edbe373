using System.Text.Json;
using Orleans.Runtime;
using Orleans.Streams;
using Trellis.TestKit;
using Trellis.Core.Messaging;
using Trellis.Grains.Apps;
using Trellis.Grains.Tests.Support;
using Xunit;

namespace Trellis.Grains.Tests.Apps;

/// <summary>Watches ride on the app's Orleans stream, whose events the app numbers: a watcher takes each number once, in
/// order, and is kicked when one is missing rather than carrying on with a hole in its picture.</summary>
public sealed class WatchStreamTests
{
    private static JsonElement J(object value) => JsonSerializer.SerializeToElement(value);

    [Fact]
    public async Task A_watcher_that_misses_an_event_is_kicked_and_leaves()
    {
        await using var cluster = await AppCluster.StartAsync(static silo => silo.AddMemoryGrainStorageAsDefault(), TestAgents.Create());
        var app = $"gap-{Guid.NewGuid():N}"[..20];
        Assert.Equal(Codes.Ok, (await cluster.Apps.CreateAsync(app, "counter")).Code);
        await using var watch = await cluster.Apps.WatchAsync(app, "/count");
        Assert.Equal("watch-ack", (await Next(watch)).Kind);
        Assert.Equal("fact", (await Next(watch)).Kind);
        Assert.Equal(Codes.Ok, (await cluster.Apps.PokeAsync(app, "add", J(new { by = 1 }))).Code);
        var first = await Next(watch);
        Assert.Equal(1, first.Data!.Value.GetProperty("count").GetInt32());

        // Event 2 never arrives (as when a silo dies between the app's write and its publish); event 3 does.
        var stream = cluster.Client.GetStreamProvider(AppStreams.Provider).GetStream<AppStreamEvent>(AppStreams.Id(app));
        await stream.OnNextAsync(new AppStreamEvent(3, "fact", "/count", null, """{"count":99}"""));

        var kick = await Next(watch);
        Assert.Equal("kick", kick.Kind);
        Assert.Contains("missed events: expected event 2", kick.Data!.Value.GetProperty("reason").GetString());
        await Waits.UntilAsync(
            async () => (await cluster.Apps.InfoAsync(app)).Data.ToJsonElement().GetProperty("subscribers").GetArrayLength(),
            n => n == 0, $"the kicked watch {watch.Subscriber} to leave {app} (expected 0 subscribers)");
    }

    [Fact]
    public async Task A_repeated_event_is_taken_once_and_facts_for_other_paths_or_watchers_are_not_shown()
    {
        await using var cluster = await AppCluster.StartAsync(static silo => silo.AddMemoryGrainStorageAsDefault(), TestAgents.Create());
        var app = $"rep-{Guid.NewGuid():N}"[..20];
        Assert.Equal(Codes.Ok, (await cluster.Apps.CreateAsync(app, "counter")).Code);
        await using var watch = await cluster.Apps.WatchAsync(app, "/count");
        Assert.Equal("watch-ack", (await Next(watch)).Kind);
        Assert.Equal("fact", (await Next(watch)).Kind);

        var stream = cluster.Client.GetStreamProvider(AppStreams.Provider).GetStream<AppStreamEvent>(AppStreams.Id(app));
        await stream.OnNextAsync(new AppStreamEvent(1, "fact", "/elsewhere", null, "1"));
        await stream.OnNextAsync(new AppStreamEvent(1, "fact", "/elsewhere", null, "1"));
        await stream.OnNextAsync(new AppStreamEvent(2, "kick", "/count", "someone-else", null));
        await stream.OnNextAsync(new AppStreamEvent(3, "fact", "/count", null, """{"count":7}"""));

        var next = await Next(watch);
        Assert.Equal("fact", next.Kind);
        Assert.Equal(7, next.Data!.Value.GetProperty("count").GetInt32());
        Assert.Equal(0, watch.Events.Count);
    }

    private static async Task<AppWatchEvent> Next(AppWatch watch) =>
        await watch.Events.ReadAsync().AsTask().Within($"the next event of the watch {watch.Subscriber} on {watch.App}{watch.Path}");
}
