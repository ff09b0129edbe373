using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>The apps HTTP API: create, poke (ack, nack, idempotent), peek, wipe, info and kill with children.</summary>
public sealed class AppsApiTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(role: "silo");

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static string NewApp() => $"c-{Guid.NewGuid():N}"[..20];

    [Fact]
    public async Task Create_poke_peek_and_info()
    {
        var app = NewApp();
        var created = await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        Assert.True(created.Status == 201, $"create answered {created.Status}: {created.Body}");
        var again = await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        Assert.True(again.Status == 200, $"second create answered {again.Status}: {again.Body}");

        var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 5 } }, Admin);
        Assert.True(poke.Status == 200, $"poke answered {poke.Status}: {poke.Body}");
        Assert.True((bool)poke.Json["ack"]!);

        var peek = await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin);
        Assert.True(peek.Status == 200, $"peek answered {peek.Status}: {peek.Body}");
        Assert.Equal(5, (int)peek.Json["count"]!);

        var info = await _gateway.GetAsync($"/apps/{app}", Admin);
        Assert.True(info.Status == 200, $"info answered {info.Status}: {info.Body}");
        Assert.Equal("counter", (string)info.Json["agent"]!);
        Assert.Equal(0, (int)info.Json["watchers"]!);
        Assert.Equal(1, (int)info.Json["pokes"]!);
    }

    [Fact]
    public async Task A_refused_poke_is_a_nack_and_changes_nothing()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        var nack = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "jump", data = 1 }, Admin);
        Assert.True(nack.Status == 400, $"bad mark answered {nack.Status}: {nack.Body}");
        Assert.Contains("add and reset", (string)nack.Json["nack"]!);
        var peek = await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin);
        Assert.Equal(0, (int)peek.Json["count"]!);
    }

    [Fact]
    public async Task A_retried_poke_with_the_same_id_is_applied_once()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        for (var i = 0; i < 3; i++)
        {
            var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 }, id = "retry-1" }, Admin);
            Assert.True(poke.Status == 200, $"poke {i} answered {poke.Status}: {poke.Body}");
        }

        var peek = await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin);
        Assert.Equal(2, (int)peek.Json["count"]!);
    }

    [Fact]
    public async Task Wipe_resets_the_state()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin);
        await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 7 } }, Admin);
        var wipe = await _gateway.SendAsync(HttpMethod.Post, $"/apps/{app}:wipe", token: Admin);
        Assert.True(wipe.Status == 200, $"wipe answered {wipe.Status}: {wipe.Body}");
        var peek = await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin);
        Assert.Equal(0, (int)peek.Json["count"]!);
    }

    [Fact]
    public async Task Kill_takes_the_children_along_and_an_unknown_app_is_404()
    {
        var app = NewApp();
        await _gateway.PostAsync("/apps", new { app, agent = "parent" }, Admin);
        var spawn = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "spawn", data = new { name = "kid", agent = "counter" } }, Admin);
        Assert.True(spawn.Status == 200, $"spawn answered {spawn.Status}: {spawn.Body}");
        await Eventually(async () => (await _gateway.GetAsync($"/apps/{app}/kid", Admin)).Status == 200, "the child to exist");

        var kill = await _gateway.DeleteAsync($"/apps/{app}", Admin);
        Assert.True(kill.Status == 200, $"kill answered {kill.Status}: {kill.Body}");
        await Eventually(async () => (await _gateway.GetAsync($"/apps/{app}/kid", Admin)).Status == 404, "the child to be killed with its parent");
        Assert.Equal(404, (await _gateway.GetAsync($"/apps/{app}", Admin)).Status);
        var unknown = await _gateway.DeleteAsync($"/apps/{NewApp()}", Admin);
        Assert.True(unknown.Status == 404, $"kill of an unknown app answered {unknown.Status}: {unknown.Body}");
    }

    internal static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
