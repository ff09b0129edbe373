using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>An app whose agent is a real Python HTTP node registered through the proxy as <c>trellis.agents.&lt;name&gt;</c>,
/// while the cluster keeps the state, the subscriptions and the acks.</summary>
public sealed class RemoteAgentTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(role: "silo");

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<(PythonNode Node, RegisteredNode Registered)> StartAgentAsync(string agent, string phase)
    {
        var node = await PythonNode.StartAsync($"{agent}-{phase}", "agent.py");
        var registered = await _gateway.RegisterAsync(new
        {
            port = node.Port,
            services = new object[] { new { topic = $"trellis.agents.{agent}", group = "_default", path = "/agent" } },
        });
        await _gateway.WaitForStatusAsync(registered.Id, Core.Nodes.NodeStatus.Ok, phase);
        return (node, registered);
    }

    [Fact]
    public async Task Pokes_reach_watchers_state_survives_the_agent_going_down_and_coming_back()
    {
        var agent = $"rc-{Guid.NewGuid():N}"[..16];
        var app = $"remote-{Guid.NewGuid():N}"[..20];
        var (first, _) = await StartAgentAsync(agent, "first");
        await using (first)
        {
            var created = await _gateway.PostAsync("/apps", new { app, agent, init = new { count = 10 } }, Admin);
            Assert.True(created.Status == 201, $"create answered {created.Status}: {created.Body}");

            await using var sse = await SseReader.OpenAsync(_gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
            Assert.Equal("watch-ack", (await sse.NextAsync("the watch-ack from the remote agent's app"))!.Name);
            Assert.Equal(10, (int)(await sse.NextAsync("the initial fact"))!.Data!["data"]!["count"]!);

            var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 5 } }, Admin);
            Assert.True(poke.Status == 200, $"poke answered {poke.Status}: {poke.Body}");
            Assert.Equal(15, (int)(await sse.NextAsync("the fact of the poke"))!.Data!["data"]!["count"]!);

            var nack = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "jump", data = 1 }, Admin);
            Assert.True(nack.Status == 400, $"bad mark answered {nack.Status}: {nack.Body}");
            Assert.Contains("remote counter takes add", (string)nack.Json["nack"]!);
        }

        // The agent's node is gone: pokes are nacked as unavailable and the state is kept.
        await AppsApiTests.Eventually(async () =>
            (await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin)).Status == 503,
            "pokes to be nacked with 503 once the agent's node is down");
        var down = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin);
        Assert.Contains("unavailable", (string)down.Json["nack"]!);
        Assert.Equal(200, (await _gateway.GetAsync($"/apps/{app}", Admin)).Status);

        var (second, _) = await StartAgentAsync(agent, "second");
        await using (second)
        {
            var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 } }, Admin);
            Assert.True(poke.Status == 200, $"poke after the agent came back answered {poke.Status}: {poke.Body}");
            var peek = await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin);
            Assert.Equal(17, (int)peek.Json["count"]!);
        }
    }
}
