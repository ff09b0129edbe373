using Trellis.Api.Tests.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Edge.Tests.Publish;
using Trellis.TestKit;
using static Trellis.Api.Tests.Edge.Published.PublishedTesting;

namespace Trellis.Api.Tests.Edge.Published;

/// <summary>The agent as it ships (scripts/edge-publish.sh: Native AOT, one file) for each architecture — linux-x64
/// natively, linux-arm64 under qemu — as a real process against a real gateway: its own commands, the daemon linking,
/// a service published with its own CLI and called through the reverse proxy, and the device going offline when the
/// process is killed.</summary>
public sealed class PublishedAgentSmokeTests : IAsyncLifetime
{
    private readonly TempFolder _temp = new();
    private readonly List<AgentProcess> _agents = [];
    private TestGateway _gateway = null!;
    private DeviceProgram _program = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Edge:BuildsDirectory"] = _temp.File("builds") });
        _program = await DeviceProgram.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        await _program.DisposeAsync();
        await _gateway.DisposeAsync();
        _temp.Dispose();
    }

    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    public async Task The_published_agent_links_serves_the_cluster_and_goes_offline_when_killed(string rid)
    {
        var published = await PublishedAgent.GetAsync(rid);
        // Under emulation everything starts slower; these are limits, not expectations.
        var slow = published.Emulated ? TimeSpan.FromSeconds(90) : TimeSpan.FromSeconds(30);

        var (code, stdout, stderr) = await published.RunAsync(["id"], timeout: slow);
        Assert.True(code == 0 && stdout.Trim().Length > 0, $"{published} id: exit {code}, {stdout} {stderr}");
        (code, stdout, stderr) = await published.RunAsync(["info"], timeout: slow);
        Assert.True(code == 0, $"{published} info: exit {code}, {stdout} {stderr}");
        Assert.StartsWith("trellis-edge ", stdout);
        Assert.Contains($" on {rid} ", stdout);

        var provider = NewProvider();
        var token = await IssueTokenAsync(_gateway, provider, "demo.*");
        var home = Directory.CreateDirectory(_temp.File($"home-{rid}")).FullName;
        var agent = AgentProcess.Start(published, home,
            ["--gateway", _gateway.GrpcAddress!.ToString(), "--token", token, "--provider", provider, "--http-port", "0", "--lan-port", "0", "--no-update"]);
        _agents.Add(agent);
        var info = await agent.InfoAsync(i => (string?)i["link"] == "up", $"{agent}: GET /v1/info with the link up", slow);
        Assert.Equal(provider, (string)info["provider"]!);
        Assert.Equal(rid, (string)info["arch"]!);

        // A program on the device publishes its service to the WAN scope with the agent's own CLI.
        var echo = new Uri(_program.Address, "/echo").ToString();
        (code, stdout, stderr) = await published.RunAsync(["--home", home, "publish", "acme", "echo", echo, "--scope", "wan"], timeout: slow);
        Assert.True(code == 0, $"{published} publish: exit {code}, {stdout} {stderr}");
        Assert.Contains("published acme/echo", stdout);
        var device = await DeviceAsync(_gateway, agent, provider, d => OnlineWith(d, "echo"), $"device {provider} online with acme/echo", slow);
        Assert.Equal(rid, (string)device["arch"]!);

        // The cluster calls it: a node's request goes down the link to the program and its answer comes back.
        var node = await _gateway.RegisterAsync(new { port = _program.Port });
        var reply = await RequestAsync(_gateway, node, "edge.acme.echo", 1);
        Assert.True(reply.Status == 200, $"edge.acme.echo answered {reply}\n--- agent output ---\n{agent.Output}");
        Assert.Contains("\"by\":\"device\"", reply.Body);
        Assert.Equal(1, _program.Requests);

        // A crash: the gateway notices the link ending, the device goes offline and its topic has no provider any more.
        await agent.KillAsync();
        await DeviceAsync(_gateway, agent, provider, d => (string?)d["status"] == "offline", $"device {provider} offline after its agent was killed", slow);
        var gone = await RequestAsync(_gateway, node, "edge.acme.echo", 2);
        Assert.True(gone.Status == 404, $"with the device offline edge.acme.echo answered {gone}");
    }
}
