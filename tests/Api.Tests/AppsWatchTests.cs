using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Watching apps over Server-Sent Events: watch-ack, initial facts, facts, kick, keep-alives and leaving.</summary>
public sealed class AppsWatchTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() =>
        _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Apps:KeepAliveInterval"] = "00:00:00.2" }, role: "silo");

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static string NewApp() => $"w-{Guid.NewGuid():N}"[..20];

    [Fact]
    public async Task A_watcher_gets_ack_initial_facts_facts_and_a_kick()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 3 } }, Admin);
        await using var sse = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        Assert.Equal(200, sse.Status);
        var ack = await sse.NextAsync("the watch-ack");
        Assert.Equal("watch-ack", ack!.Name);
        Assert.False(string.IsNullOrEmpty((string?)ack.Data!["subscriber"]));
        var initial = await sse.NextAsync("the initial fact");
        Assert.Equal("fact", initial!.Name);
        Assert.Equal(3, (int)initial.Data!["data"]!["count"]!);

        await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin);
        var fact = await sse.NextAsync("the fact of the poke");
        Assert.Equal("fact", fact!.Name);
        Assert.Equal(4, (int)fact.Data!["data"]!["count"]!);

        await _gateway.SendAsync(HttpMethod.Post, $"/apps/{app}:wipe", token: Admin);
        var kick = await sse.NextAsync("the kick of the wipe");
        Assert.Equal("kick", kick!.Name);
        Assert.Null(await sse.NextAsync("the end of the stream"));
    }

    [Fact]
    public async Task Initial_facts_go_to_the_new_subscriber_only_and_keep_alives_flow()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "chat" }, Admin);
        await using var first = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/messages", Admin);
        Assert.Equal("watch-ack", (await first.NextAsync("first watch-ack"))!.Name);
        var say = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "say", data = new { from = "ann", text = "hi" } }, Admin);
        Assert.True(say.Status == 200, $"say answered {say.Status}: {say.Body}");
        Assert.Equal("fact", (await first.NextAsync("ann's line at the first watcher"))!.Name);

        await using var second = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/messages", Admin);
        Assert.Equal("watch-ack", (await second.NextAsync("second watch-ack"))!.Name);
        Assert.Equal("fact", (await second.NextAsync("the backlog at the second watcher"))!.Name);

        await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "say", data = new { from = "bob", text = "yo" } }, Admin);
        var atFirst = await first.NextAsync("bob's line at the first watcher");
        var atSecond = await second.NextAsync("bob's line at the second watcher");
        Assert.Contains("yo", atFirst!.Data!.ToJsonString());
        Assert.Contains("yo", atSecond!.Data!.ToJsonString());
    }

    [Fact]
    public async Task Closing_the_stream_or_leaving_unsubscribes()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        var sse = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        await sse.NextAsync("watch-ack");
        Assert.Equal(1, (int)(await _gateway.GetAsync($"/apps/{app}", Admin)).Json["watchers"]!);
        await sse.DisposeAsync();
        await AppsApiTests.Eventually(async () => (int)(await _gateway.GetAsync($"/apps/{app}", Admin)).Json["watchers"]! == 0, "the closed stream to leave");

        await using var other = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        var ack = await other.NextAsync("second watch-ack");
        var leave = await _gateway.PostAsync($"/apps/{app}:leave", new { subscriber = (string)ack!.Data!["subscriber"]!, path = "/count" }, Admin);
        Assert.True(leave.Status == 200, $"leave answered {leave.Status}: {leave.Body}");
        await other.NextAsync("the initial fact");
        Assert.Null(await other.NextAsync("the stream to end after leaving"));
        Assert.Equal(0, (int)(await _gateway.GetAsync($"/apps/{app}", Admin)).Json["watchers"]!);
    }

    [Fact]
    public async Task An_idle_stream_gets_keep_alive_comments()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        await using var sse = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        await sse.NextAsync("watch-ack");
        await sse.NextAsync("initial fact");
        // Nothing happens for several keep-alive intervals (0.2 s); then the kill's kick ends the stream.
        var killer = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
            await _gateway.DeleteAsync($"/apps/{app}", Admin);
        }, TestContext.Current.CancellationToken);
        Assert.Equal("kick", (await sse.NextAsync("the kick of the kill"))!.Name);
        await killer;
        Assert.True(sse.Comments >= 2, $"expected keep-alive comments during a second of silence, saw {sse.Comments}");
    }

    [Fact]
    public async Task Watches_over_the_limit_get_429()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Apps:MaxWatches"] = "1" }, role: "silo");
        var app = NewApp();
        await gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        await using var first = await SseReader.OpenAsync(gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        await first.NextAsync("first watch-ack");
        await using var second = await SseReader.OpenAsync(gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        Assert.Equal(429, second.Status);
        Assert.Contains("MaxWatches", await second.BodyAsync());
    }
}
