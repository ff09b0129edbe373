using System.Text.Json.Nodes;
using Trellis.Api.Tests.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Edge.Daemon;
using Trellis.Edge.Local;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Edge;

/// <summary>The whole agent (<see cref="EdgeDaemon"/>: local API on its socket, services, jobs, the link) against a real
/// gateway's own gRPC port: what a device does, seen from its programs and from the cluster.</summary>
public sealed class AgentTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private DeviceProgram _program = null!;
    private string _home = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _program = await DeviceProgram.StartAsync();
        _home = Directory.CreateTempSubdirectory("trellis-agent-").FullName;
    }

    public async ValueTask DisposeAsync()
    {
        await _program.DisposeAsync();
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private Task<EdgeDaemon> StartAgentAsync(string provider, string token) => Devices.StartAgentAsync(_gateway, _home, provider, token);

    private static async Task<JsonNode?> LocalAsync(LocalClient client, HttpMethod method, string path, JsonNode? body, int expected)
    {
        var (status, text) = await client.SendAsync(method, path, body, TestContext.Current.CancellationToken);
        Assert.True(status == expected, $"{method} {path} answered {status}: {text}");
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    private async Task<JsonNode> DeviceAsync(string provider, Func<JsonNode, bool> done, string what) =>
        await Waits.UntilAsync(
            async () => (await _gateway.GetAsync($"/edge/devices/{provider}", TestGateway.AdminToken)).Json,
            done,
            what);

    [Fact]
    public async Task A_program_on_the_device_serves_the_cluster_and_calls_it_and_the_cluster_runs_jobs_there()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider, "demo.*");
        await using var agent = await StartAgentAsync(provider, token);
        using var local = new LocalClient(agent.SocketPath);

        // A program publishes its service to the WAN scope through the agent's socket.
        await LocalAsync(local, HttpMethod.Post, "/v1/services",
            new JsonObject { ["publisher"] = "acme", ["service"] = "echo", ["url"] = new Uri(_program.Address, "/echo").ToString(), ["scopes"] = new JsonArray("os", "wan") }, 201);
        await DeviceAsync(provider, d => (string?)d["status"] == "online" && d["services"]!.AsArray().Count == 1, $"device {provider} online with its service");

        // The cluster calls it: a node's request travels down the link to the program and back.
        var node = await _gateway.RegisterAsync(new { port = _program.Port });
        var reply = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "edge.acme.echo", message = new { n = 1 } }, node.Token);
        Assert.True(reply.Status == 200, $"edge.acme.echo answered {reply}");
        Assert.Contains("\"by\":\"device\"", reply.Body);
        var instance = await _gateway.PostAsync($"/request/{node.Id}", new { topic = $"edge.acme.echo.{provider}", message = new { n = 2 } }, node.Token);
        Assert.True(instance.Status == 200, $"the instance topic answered {instance}");

        // The program calls a cluster service within the device's grant, and is refused one outside it.
        await _gateway.PostAsync($"/nodes/{node.Id}/services", new { topic = "demo.hello", group = "g", path = "/echo", timeout = 5 }, node.Token);
        var called = await LocalAsync(local, HttpMethod.Post, "/v1/call/demo.hello", new JsonObject { ["hi"] = 1 }, 200);
        Assert.NotNull(called);
        var (refused, refusal) = await local.SendAsync(HttpMethod.Post, "/v1/call/other.topic", new JsonObject(), TestContext.Current.CancellationToken);
        Assert.True(refused == 403, $"an ungranted call answered {refused}: {refusal}");

        // WAN discovery from the device finds its own service through the cluster; OS discovery finds it locally.
        var found = await LocalAsync(local, HttpMethod.Get, "/v1/discover?publisher=acme&service=*&scope=os,wan", null, 200);
        var scopes = found!.AsArray().Select(f => (string)f!["scope"]!).ToArray();
        Assert.Contains("os", scopes);
        Assert.Contains("wan", scopes);

        // The cluster runs a job on the device through the admin API, sees it in ps and in the device's record, stops it.
        var run = await _gateway.PostAsync($"/edge/devices/{provider}/commands",
            new { method = "POST", path = "/v1/jobs", body = new { name = "sleeper", command = new[] { "sleep", "60" } } }, TestGateway.AdminToken);
        Assert.True(run.Status == 200 && (int)run.Json["status"]! is 200 or 201, $"run answered {run}");
        var ps = await _gateway.PostAsync($"/edge/devices/{provider}/commands", new { method = "GET", path = "/v1/jobs" }, TestGateway.AdminToken);
        Assert.Contains("sleeper", ps.Body);
        await DeviceAsync(provider, d => d["jobs"]!.AsArray().Any(j => (string?)j!["name"] == "sleeper" && (string?)j["status"] == "running"), "the job reported to the device's grain");
        var stop = await _gateway.PostAsync($"/edge/devices/{provider}/commands",
            new { method = "POST", path = "/v1/jobs/sleeper/stop", priority = "high" }, TestGateway.AdminToken);
        Assert.True((int)stop.Json["status"]! == 200, $"stop answered {stop}");
        await _gateway.PostAsync($"/edge/devices/{provider}/commands", new { method = "DELETE", path = "/v1/jobs/sleeper" }, TestGateway.AdminToken);

        // The agent stops: the device goes offline at once and its topics answer 404 again.
        await agent.DisposeAsync();
        await DeviceAsync(provider, d => (string?)d["status"] == "offline", $"device {provider} offline after its agent stopped");
        var gone = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "edge.acme.echo", message = new { n = 3 } }, node.Token);
        Assert.True(gone.Status == 404, $"with the device offline edge.acme.echo answered {gone}");
        var offline = await _gateway.PostAsync($"/edge/devices/{provider}/commands", new { method = "GET", path = "/v1/jobs" }, TestGateway.AdminToken);
        Assert.True(offline.Status == 404, $"a command to an offline device answered {offline}");
    }

    [Fact]
    public async Task The_agent_keeps_its_services_across_a_restart_and_relinks_with_them()
    {
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(_gateway, provider);
        await using (var first = await StartAgentAsync(provider, token))
        {
            using var local = new LocalClient(first.SocketPath);
            await LocalAsync(local, HttpMethod.Post, "/v1/services",
                new JsonObject { ["publisher"] = "acme", ["service"] = "kept", ["url"] = new Uri(_program.Address, "/echo").ToString() }, 201);
            await DeviceAsync(provider, d => (string?)d["status"] == "online" && d["services"]!.AsArray().Count == 1, "first agent online with its service");
        }

        await DeviceAsync(provider, d => (string?)d["status"] == "offline", "offline between the agents");
        await using var second = await StartAgentAsync(provider, token);
        var device = await DeviceAsync(provider, d => (string?)d["status"] == "online" && d["services"]!.AsArray().Count == 1, "second agent online with the kept service");
        Assert.Equal("kept", (string)device["services"]![0]!["service"]!);
        var node = await _gateway.RegisterAsync(new { port = _program.Port });
        var reply = await _gateway.PostAsync($"/request/{node.Id}", new { topic = "edge.acme.kept", message = new { n = 1 } }, node.Token);
        Assert.True(reply.Status == 200, $"edge.acme.kept answered {reply}");
    }
}
