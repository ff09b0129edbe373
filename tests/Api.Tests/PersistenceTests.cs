using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Nodes;
using Microsoft.Extensions.DependencyInjection;

namespace Trellis.Api.Tests;

/// <summary>Registrations survive a gateway restart with the same SQLite file: re-subscribed after a health check.</summary>
public sealed class PersistenceTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "trellis-api-tests-" + Guid.NewGuid().ToString("N"));

    private string DbPath => Path.Combine(_folder, "trellis.db");

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task Registrations_come_back_after_a_restart_with_the_same_file()
    {
        await using var python = await PythonNode.StartAsync("durable");
        RegisteredNode node;
        await using (var first = await TestGateway.StartAsync(DbPath))
        {
            node = await first.RegisterAsync(new
            {
                port = python.Port,
                health_check = "/health",
                slots = new object[] { new { topic = "durable.*", group = "g", path = "/record", timeout = 3 } },
                services = new object[] { new { topic = "durable.echo", group = "_default", path = "/echo", timeout = 4 } },
            });
            Assert.Equal(200, (await first.PostAsync($"/nodes/{node.Id}/services", new { topic = "durable.added", group = "x", path = "/echo" }, node.Token)).Status);
        }

        await using var second = await TestGateway.StartAsync(DbPath);
        await second.WaitForStatusAsync(node.Id, NodeStatus.Ok, "the restored node's first health check");
        var read = await second.GetAsync($"/nodes/{node.Id}", node.Token);
        Assert.Equal(200, read.Status);
        Assert.Equal(python.Port, (int)read.Json["port"]!);
        Assert.Equal(["durable.echo", "durable.added"], read.Json["services"]!.AsArray().Select(s => (string)s!["topic"]!));
        Assert.Equal("g", (string)read.Json["slots"]![0]!["group"]!);
        Assert.Equal(3, (double)read.Json["slots"]![0]!["timeout"]!);

        var reply = await second.PostAsync($"/request/{node.Id}", new { topic = "durable.added", message = "again" }, node.Token);
        Assert.Equal(200, reply.Status);
        Assert.Equal("again", (string)reply.Json["messages"]![0]!["data"]!["data"]!);
        Assert.Equal(200, (await second.PostAsync($"/signal/{node.Id}", new { topic = "durable.x" }, node.Token)).Status);
        await python.WaitForCallsAsync("/record", 1, "the restored slot to get a signal");

        Assert.Equal(200, (await second.DeleteAsync($"/nodes/{node.Id}", node.Token)).Status);
        var store = second.Services.GetRequiredService<INodeStore>();
        Assert.Null(await store.GetAsync(node.Id, TestContext.Current.CancellationToken));
        Assert.Equal(401, (await second.GetAsync($"/nodes/{node.Id}", node.Token)).Status);
    }

    [Fact]
    public async Task The_store_keeps_only_a_hash_of_the_token()
    {
        RegisteredNode node;
        await using (var gateway = await TestGateway.StartAsync(DbPath))
        {
            node = await gateway.RegisterAsync(new { port = HealthTests.FreePort() });
            var record = await gateway.Services.GetRequiredService<INodeStore>().GetAsync(node.Id, TestContext.Current.CancellationToken);
            Assert.NotNull(record);
            Assert.Equal(NodeCredentials.Hash(node.Token), record.TokenHash);
        }

        // The database and its write-ahead log, wherever SQLite put the rows.
        foreach (var file in Directory.GetFiles(_folder))
        {
            var bytes = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
            Assert.DoesNotContain(node.Token, System.Text.Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
        }
    }
}
