using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Cli;

/// <summary><c>trellis apps …</c> on the built-in counter agent, checked against the apps API.</summary>
public sealed class CliAppsTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private CliTesting _cli = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _cli = new CliTesting(_gateway);
    }

    public async ValueTask DisposeAsync()
    {
        _cli.Dispose();
        await _gateway.DisposeAsync();
    }

    private static string NewApp() => $"cli-{Guid.NewGuid():N}"[..16];

    [Fact]
    public async Task Create_poke_peek_info_wipe_and_kill()
    {
        var app = NewApp();
        var created = await _cli.AdminAsync("apps", "create", app, "--agent", "counter");
        Assert.True(created.Exit == CliApp.Ok, created.ToString());
        Assert.True((bool)created.Json["created"]!);
        Assert.Equal("counter", (string)created.Json["agent"]!);

        var poke = await _cli.AdminAsync("apps", "poke", app, "add", "-d", """{"by":5}""", "--id", "p-1");
        Assert.True(poke.Exit == CliApp.Ok, poke.ToString());
        Assert.True((bool)poke.Json["ack"]!);
        var file = _cli.File("by.json", """{"by":2}""");
        Assert.Equal(CliApp.Ok, (await _cli.AdminAsync("apps", "poke", app, "add", "-d", "@" + file)).Exit);

        var peek = await _cli.AdminAsync("apps", "peek", app, "/count");
        Assert.True(peek.Exit == CliApp.Ok, peek.ToString());
        Assert.Equal((await _gateway.GetAsync($"/apps/{app}:peek?path=/count", TestGateway.AdminToken)).Json.ToJsonString(), peek.Json.ToJsonString());
        Assert.Contains("7", peek.Out, StringComparison.Ordinal);

        var info = await _cli.AdminAsync("apps", "info", app, "-o", "json");
        Assert.True(info.Exit == CliApp.Ok, info.ToString());
        Assert.Equal(app, (string)info.Json["app"]!);
        Assert.Equal(2, (int)info.Json["pokes"]!);
        var infoTable = await _cli.AdminAsync("apps", "info", app);
        Assert.Contains(infoTable.Lines, static l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^agent\s+counter$"));

        var nack = await _cli.AdminAsync("apps", "poke", app, "no-such-mark");
        Assert.True(nack.Exit == CliApp.Failed, nack.ToString());
        Assert.Matches(@"trellis: 4\d\d ", nack.Err);

        var wipe = await _cli.AdminAsync("apps", "wipe", app);
        Assert.True(wipe.Exit == CliApp.Ok, wipe.ToString());
        var wiped = await _cli.AdminAsync("apps", "peek", app, "/count", "-o", "yaml");
        Assert.DoesNotContain("7", wiped.Out, StringComparison.Ordinal);

        var kill = await _cli.AdminAsync("apps", "kill", app);
        Assert.True(kill.Exit == CliApp.Ok, kill.ToString());
        Assert.Equal(404, (await _gateway.GetAsync($"/apps/{app}", TestGateway.AdminToken)).Status);
        var gone = await _cli.AdminAsync("apps", "info", app);
        Assert.True(gone.Exit == CliApp.Failed, gone.ToString());

        var noToken = await _cli.RunAsync("apps", "info", app, "--url", _gateway.Address.ToString());
        Assert.True(noToken.Exit == CliApp.Failed, noToken.ToString());
        Assert.Contains("401", noToken.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_prints_the_facts_of_a_poke_until_cancelled()
    {
        var app = NewApp();
        Assert.Equal(CliApp.Ok, (await _cli.AdminAsync("apps", "create", app, "--agent", "counter")).Exit);

        using var stop = new CancellationTokenSource();
        var output = new SharedWriter();
        var watching = _cli.RunAsync(["apps", "watch", app, "/count", "--url", _gateway.Address.ToString(), "--token", TestGateway.AdminToken], "", stop.Token, output);
        await Waits.UntilAsync(() => Task.FromResult(output.ToString()), static o => o.Contains("\"watch-ack\"", StringComparison.Ordinal), "the watch-ack line");

        Assert.Equal(CliApp.Ok, (await _cli.AdminAsync("apps", "poke", app, "add", "-d", """{"by":3}""")).Exit);
        await Waits.UntilAsync(() => Task.FromResult(output.ToString()), static o => o.Contains("\"count\":3", StringComparison.Ordinal), "the fact of the poke");

        await stop.CancelAsync();
        var run = await watching.Within("the watch to end after Ctrl+C");
        Assert.True(run.Exit == CliApp.Ok, run.ToString());
        var events = run.Lines.Select(static l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList();
        Assert.Equal("watch-ack", (string)events[0]["event"]!);
        Assert.Equal(app, (string)events[0]["app"]!);
        var fact = Assert.Single(events, static e => (string)e["event"]! == "fact" && e["data"]!.ToJsonString().Contains("\"count\":3", StringComparison.Ordinal));
        Assert.Equal("/count", (string)fact["path"]!);
    }
}
