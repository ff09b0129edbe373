using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;

namespace Trellis.Api.Tests;

/// <summary>An app whose agent is a real Python HTTP node registered through the proxy as <c>trellis.agents.&lt;name&gt;</c>,
/// while the cluster keeps the state, the subscriptions and the acks.</summary>
public sealed class RemoteAgentTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private TestGateway _gateway = null!;

    // Health checks hourly: the gateway learns that an agent's node is gone only by calling it, which is the path under
    // test (a node that cannot be reached must make the agent unavailable, never look like the agent's own refusal).
    public async ValueTask InitializeAsync() =>
        _gateway = await TestGateway.StartAsync(role: "silo", settings: new Dictionary<string, string?> { ["Trellis:Nodes:HealthInterval"] = "01:00:00" });

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<(PythonNode Node, RegisteredNode Registered)> StartAgentAsync(string agent, string phase)
    {
        var node = await PythonNode.StartAsync($"{agent}-{phase}", "agent.py");
        try
        {
            var registered = await _gateway.RegisterAsync(new
            {
                port = node.Port,
                services = new object[] { new { topic = $"trellis.agents.{agent}", group = "_default", path = "/agent" } },
            });
            // Registration checks the node's health and subscribes it before it answers "ok".
            Assert.True(registered.Status == "ok", $"{phase}: the agent node registered as {registered.Status}");
            return (node, registered);
        }
        catch
        {
            await node.DisposeAsync(); // the caller never gets it, so it would outlive the test
            throw;
        }
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

        // The agent's node is gone (killed): the very next pokes are nacked as unavailable and the state is kept.
        for (var i = 0; i < 2; i++)
        {
            AssertUnavailable(await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin), $"poke {i + 1} after the agent's node was killed");
        }

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

    [Fact]
    public async Task An_agent_node_killed_while_registered_is_unavailable_the_state_is_kept_and_a_new_node_takes_over()
    {
        var agent = $"rk-{Guid.NewGuid():N}"[..16];
        var app = $"killed-{Guid.NewGuid():N}"[..20];
        var (first, registered) = await StartAgentAsync(agent, "first");
        await using (first)
        {
            var created = await _gateway.PostAsync("/apps", new { app, agent, init = new { count = 10 } }, Admin);
            Assert.True(created.Status == 201, $"create answered {created.Status}: {created.Body}");
            var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 5 } }, Admin);
            Assert.True(poke.Status == 200, $"poke answered {poke.Status}: {poke.Body}");

            // SIGKILL while the node computes a step: the connection ends before any answer.
            var held = _gateway.PostAsync($"/apps/{app}:poke", new { mark = "hold", data = new { seconds = 300 } }, Admin);
            await first.WaitForAsync(e => (string?)e["event"] == "step" && (string?)e["mark"] == "hold", "the held poke to reach the agent");
            await first.KillAsync();
            AssertUnavailable(await held.Within("the held poke to be answered after its agent was killed"), "the poke whose agent was killed while computing it");
        }

        // Killed and still registered: nothing listens on its port any more, over HTTP and over gRPC.
        AssertUnavailable(await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin), "a poke to the killed agent");
        await GrpcApi.FailsAsync(
            _gateway.Grpc.UnaryAsync(GrpcApi.Poke, new Contracts.V1.PokeRequest { App = app, Mark = "add", Data = GrpcApi.Json("""{"by": 1}""") }, GrpcApi.As(Admin)),
            global::Grpc.Core.StatusCode.Unavailable, "is unavailable");
        var status = await _gateway.GetAsync($"/nodes/{registered.Id}", Admin);
        Assert.True(status.Status == 200, $"the killed agent's registration answered {status.Status}: {status.Body}");

        var (second, _) = await StartAgentAsync(agent, "second");
        await using (second)
        {
            // None of the pokes the dead node could not answer was applied.
            var peek = await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin);
            Assert.True(peek.Status == 200, $"peek answered {peek.Status}: {peek.Body}");
            Assert.Equal(15, (int)peek.Json["count"]!);

            var poke = await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 } }, Admin);
            Assert.True(poke.Status == 200, $"poke after a new agent node came answered {poke.Status}: {poke.Body}");
            Assert.Equal(17, (int)(await _gateway.PostAsync($"/apps/{app}:peek", new { path = "/count" }, Admin)).Json["count"]!);
        }
    }

    /// <summary>503 with a nack saying the agent is unavailable, not that it refused (which would be a 4xx).</summary>
    private static void AssertUnavailable(Response response, string what)
    {
        Assert.True(response.Status == 503, $"{what} answered {response.Status}: {response.Body}");
        var nack = (string?)response.Json["nack"];
        Assert.True(nack is not null && nack.Contains("is unavailable", StringComparison.Ordinal) && !nack.Contains("refused:", StringComparison.Ordinal),
            $"{what}: the nack should say the agent is unavailable, not that it refused: {response.Body}");
    }
}
