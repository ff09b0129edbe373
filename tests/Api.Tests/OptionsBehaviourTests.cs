using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Behaviour that depends on settings: back-pressure on signals and allow-listed callback hosts.</summary>
public sealed class OptionsBehaviourTests
{
    [Fact]
    public async Task A_signal_to_a_full_slot_queue_gets_503()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Trellis:Messaging:HandlerConcurrency"] = "1",
            ["Trellis:Messaging:QueueMaxLength"] = "1",
        });
        await using var python = await PythonNode.StartAsync("full");
        var node = await gateway.RegisterAsync(new { port = python.Port, slots = new object[] { new { topic = "full.slot", path = "/slow", timeout = 60 } } });

        // The first signal occupies the only handler slot until the gateway stops; the queue behind it holds one more.
        Assert.Equal(200, (await gateway.PostAsync($"/signal/{node.Id}", new { topic = "full.slot", message = 0 }, node.Token)).Status);
        await python.WaitForCallsAsync("/slow", 1, "the first signal to occupy the handler");
        Response? refused = null;
        for (var i = 1; i <= 10 && refused is null; i++)
        {
            var response = await gateway.PostAsync($"/signal/{node.Id}", new { topic = "full.slot", message = i }, node.Token);
            if (response.Status != 200)
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        Assert.Equal(503, refused.Status);
        Assert.Equal("UNAVAILABLE", refused.ErrorCode);
        Assert.Contains("queue for 'full.slot' is full", refused.ErrorMessage);
    }

    [Fact]
    public async Task An_allow_listed_host_may_be_named_at_registration()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Nodes:AllowedHosts:0"] = "localhost" });
        await using var python = await PythonNode.StartAsync("named");
        var node = await gateway.RegisterAsync(new { port = python.Port, host = "localhost", services = new object[] { new { topic = "named.echo", group = "_default", path = "/echo" } } });
        Assert.Equal("ok", node.Status);
        var read = (await gateway.GetAsync($"/nodes/{node.Id}", node.Token)).Json;
        Assert.Equal("localhost", (string)read["host"]!);
        Assert.Equal(200, (await gateway.PostAsync($"/request/{node.Id}", new { topic = "named.echo" }, node.Token)).Status);
        Assert.Equal(403, (await gateway.PostAsync("/nodes", new { port = python.Port, host = "example.com" })).Status);
    }
}
