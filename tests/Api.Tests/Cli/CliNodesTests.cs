using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;

namespace Trellis.Api.Tests.Cli;

/// <summary><c>trellis nodes register|list|show|delete</c> against a real gateway, each answer checked against the API.</summary>
public sealed class CliNodesTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _node = null!;
    private CliTesting _cli = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _node = await PythonNode.StartAsync("cli-nodes");
        _cli = new CliTesting(_gateway);
    }

    public async ValueTask DisposeAsync()
    {
        _cli.Dispose();
        await _gateway.DisposeAsync();
        await _node.DisposeAsync();
    }

    private string Registration(string topic) =>
        $$"""{"port":{{_node.Port}},"health_check":"/health","services":[{"topic":"{{topic}}","group":"_default","path":"/echo","timeout":5}]}""";

    [Fact]
    public async Task Register_list_show_and_delete()
    {
        var topic = $"cli.nodes.{Guid.NewGuid():N}";
        var file = _cli.File("node.json", Registration(topic));
        var registered = await _cli.AdminAsync("nodes", "register", "-f", file);
        Assert.True(registered.Exit == CliApp.Ok, registered.ToString());
        var id = (string)registered.Json["id"]!;
        Assert.Equal("ok", (string)registered.Json["status"]!);
        var token = (string)registered.Json["token"]!;
        Assert.Equal(200, (await _gateway.GetAsync($"/nodes/{id}", token)).Status);

        var list = await _cli.AdminAsync("nodes", "list", "-o", "json");
        Assert.True(list.Exit == CliApp.Ok, list.ToString());
        var listed = Assert.Single(list.Json.AsArray(), n => (string)n!["id"]! == id)!;
        Assert.Equal(_node.Port, (int)listed["port"]!);
        Assert.Equal(topic, (string)listed["services"]![0]!["topic"]!);

        var table = await _cli.AdminAsync("nodes", "list");
        Assert.True(table.Exit == CliApp.Ok, table.ToString());
        Assert.Matches(@"^ID\s+STATUS\s+PORT\s+HEALTH\s+SERVICES\s+SLOTS$", table.Lines[0]);
        Assert.Contains(table.Lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^{id}\s+ok\s+{_node.Port}\s+/health\s+{System.Text.RegularExpressions.Regex.Escape(topic)}\s+-$"));

        var show = await _cli.AdminAsync("nodes", "show", id, "-o", "json");
        Assert.True(show.Exit == CliApp.Ok, show.ToString());
        Assert.Equal((await _gateway.GetAsync($"/nodes/{id}", token)).Json.ToJsonString(), show.Json.ToJsonString());

        var yaml = await _cli.AdminAsync("nodes", "show", id, "-o", "yaml");
        Assert.True(yaml.Exit == CliApp.Ok, yaml.ToString());
        Assert.StartsWith($"id: {id}\nport: {_node.Port}\nhealth_check: /health\nslots: []\nservices:\n- topic: {topic}\n  group: _default\n  path: /echo\n", yaml.Out);
        Assert.EndsWith("status: ok\n", yaml.Out);

        var showTable = await _cli.AdminAsync("nodes", "show", id);
        Assert.Equal("FIELD         VALUE", showTable.Lines[0]);
        Assert.Contains($"id            {id}", showTable.Lines);

        var deleted = await _cli.AdminAsync("nodes", "delete", id);
        Assert.True(deleted.Exit == CliApp.Ok, deleted.ToString());
        Assert.Equal("ok", (string)deleted.Json["status"]!);
        Assert.Equal(404, (await _gateway.GetAsync($"/nodes/{id}", TestGateway.AdminToken)).Status);

        var again = await _cli.AdminAsync("nodes", "show", id);
        Assert.True(again.Exit == CliApp.Failed, again.ToString());
        Assert.Contains("404", again.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_from_stdin_and_refusals()
    {
        var topic = $"cli.nodes.{Guid.NewGuid():N}";
        var registered = await _cli.RunAsync(["nodes", "register", "-f", "-", "--url", _gateway.Address.ToString()], Registration(topic), CancellationToken.None);
        Assert.True(registered.Exit == CliApp.Ok, registered.ToString());
        var id = (string)registered.Json["id"]!;
        var token = (string)registered.Json["token"]!;
        Assert.Equal(topic, (string)(await _gateway.GetAsync($"/nodes/{id}", token)).Json["services"]![0]!["topic"]!);

        // A node's own token shows that node, but listing every node needs the admin token.
        var own = await _cli.RunAsync("nodes", "show", id, "-o", "json", "--url", _gateway.Address.ToString(), "--token", token);
        Assert.True(own.Exit == CliApp.Ok, own.ToString());
        var list = await _cli.RunAsync("nodes", "list", "--url", _gateway.Address.ToString(), "--token", token);
        Assert.True(list.Exit == CliApp.Failed, list.ToString());
        Assert.Contains("403", list.Err, StringComparison.Ordinal);

        var bad = await _cli.AdminAsync("nodes", "register", "-f", _cli.File("bad.json", """{"port":"x"}"""));
        Assert.True(bad.Exit == CliApp.Failed, bad.ToString());
        Assert.Contains("400", bad.Err, StringComparison.Ordinal);

        var notJson = await _cli.AdminAsync("nodes", "register", "-f", _cli.File("text.json", "port: 1"));
        Assert.True(notJson.Exit == CliApp.Usage, notJson.ToString());

        var missing = await _cli.AdminAsync("nodes", "register");
        Assert.True(missing.Exit == CliApp.Usage, missing.ToString());
    }
}
