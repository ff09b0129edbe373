using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Trellis.TestKit;
using Trellis.Core.Nodes;
using Trellis.Grains.Nodes;
using Trellis.Grains.Tests.Support;
using Trellis.Storage;
using Xunit;

namespace Trellis.Grains.Tests.Nodes;

/// <summary><see cref="GrainNodeStore"/> on a two-silo cluster: every gateway sees every node, owns its own.</summary>
public abstract class NodeStoreSuite : IDisposable
{
    private readonly TempFolder _folder = new();

    /// <summary>Makes the storage under test the silo's default grain storage; <paramref name="folder"/> is the test's own.</summary>
    protected abstract void UseStorage(ISiloBuilder silo, string folder);

    public void Dispose() => _folder.Dispose();

    private Task<AppCluster> StartAsync() => AppCluster.StartAsync(silo => UseStorage(silo, _folder.Path), TestAgents.Create());

    [Fact]
    public async Task A_saved_node_is_read_listed_found_by_its_token_and_deleted()
    {
        await using var cluster = await StartAsync();
        var store = new GrainNodeStore(cluster.Client, "gw-a");
        var first = Nodes.New("first", created: 1);
        var second = Nodes.New("second", created: 2);
        await store.SaveAsync(second);
        await store.SaveAsync(first);

        var read = await store.GetAsync(first.Id);
        Assert.NotNull(read);
        Nodes.AssertSame(first, read);
        Assert.Equal([first.Id, second.Id], (await store.ListAsync()).Select(n => n.Id));
        Assert.Equal(first.Id, await store.FindByTokenHashAsync(first.TokenHash));

        Assert.True(await store.DeleteAsync(first.Id));
        Assert.False(await store.DeleteAsync(first.Id));
        Assert.Null(await store.GetAsync(first.Id));
        Assert.Null(await store.FindByTokenHashAsync(first.TokenHash));
        Assert.Equal([second.Id], (await store.ListAsync()).Select(n => n.Id));
        Assert.Null(await store.GetAsync(Nodes.NewId()));
    }

    [Fact]
    public async Task Saving_a_node_again_replaces_its_registration()
    {
        await using var cluster = await StartAsync();
        var store = new GrainNodeStore(cluster.Client, "gw-a");
        var node = Nodes.New("node", created: 1);
        await store.SaveAsync(node);
        var moved = node with { Port = node.Port + 1, Status = NodeStatus.Unavailable };

        await store.SaveAsync(moved);

        var read = await store.GetAsync(node.Id);
        Assert.NotNull(read);
        Assert.Equal(moved.Port, read.Port);
        Assert.Equal(NodeStatus.Unavailable, read.Status);
        Assert.Single(await store.ListAsync());
    }

    [Fact]
    public async Task Each_gateway_lists_as_owned_only_the_nodes_it_saved_and_every_gateway_lists_all()
    {
        await using var cluster = await StartAsync();
        var a = new GrainNodeStore(cluster.Client, "gw-a");
        var b = new GrainNodeStore(cluster.Client, "gw-b");
        var na = Nodes.New("a", created: 1);
        var nb = Nodes.New("b", created: 2);
        await a.SaveAsync(na);
        await b.SaveAsync(nb);

        Assert.Equal([na.Id], (await a.ListOwnedAsync()).Select(n => n.Id));
        Assert.Equal([nb.Id], (await b.ListOwnedAsync()).Select(n => n.Id));
        Assert.Equal([na.Id, nb.Id], (await a.ListAsync()).Select(n => n.Id));
        Assert.Equal([na.Id, nb.Id], (await b.ListAsync()).Select(n => n.Id));
        Assert.Empty(await new GrainNodeStore(cluster.Client, "gw-c").ListOwnedAsync());
    }

    [Fact]
    public async Task A_token_saved_through_one_gateway_is_found_through_another()
    {
        await using var cluster = await StartAsync();
        // Two gateways reach the cluster by different ways in: the cluster client and a silo's own grain factory.
        var a = new GrainNodeStore(cluster.Client, "gw-a");
        var b = new GrainNodeStore(cluster.Cluster.Silos[1].SiloHost.Services.GetRequiredService<IGrainFactory>(), "gw-b");
        var na = Nodes.New("a", created: 1);
        var nb = Nodes.New("b", created: 2);
        await a.SaveAsync(na);
        await b.SaveAsync(nb);

        Assert.Equal(na.Id, await b.FindByTokenHashAsync(na.TokenHash));
        Assert.Equal(nb.Id, await a.FindByTokenHashAsync(nb.TokenHash));
        Assert.Null(await a.FindByTokenHashAsync(SHA256.HashData(Encoding.UTF8.GetBytes("nobody's token"))));
        var seenByB = await b.GetAsync(na.Id);
        Assert.NotNull(seenByB);
        Nodes.AssertSame(na, seenByB);

        Assert.True(await b.DeleteAsync(na.Id));
        Assert.Null(await a.FindByTokenHashAsync(na.TokenHash));
    }
}

public sealed class NodeStoreOnMemoryStorage : NodeStoreSuite
{
    protected override void UseStorage(ISiloBuilder silo, string folder) => silo.AddMemoryGrainStorageAsDefault();
}

public sealed class NodeStoreOnSqliteStorage : NodeStoreSuite
{
    protected override void UseStorage(ISiloBuilder silo, string folder) => silo.AddTrellisSqliteGrainStorageAsDefault(Path.Combine(folder, "grains.db"));
}

/// <summary>Registrations kept in SQLite outlive the silos.</summary>
public sealed class NodeStoreRestartTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_registration_survives_a_restart_of_every_silo()
    {
        var path = _folder.File("grains.db");
        await using var cluster = await AppCluster.StartAsync(silo => silo.AddTrellisSqliteGrainStorageAsDefault(path), TestAgents.Create());
        var node = Nodes.New("durable", created: 1);
        await new GrainNodeStore(cluster.Client, "gw-a").SaveAsync(node);

        await cluster.RestartAsync();

        var store = new GrainNodeStore(cluster.Client, "gw-a");
        var read = await store.GetAsync(node.Id);
        Assert.NotNull(read);
        Nodes.AssertSame(node, read);
        Assert.Equal([node.Id], (await store.ListOwnedAsync()).Select(n => n.Id));
        Assert.Equal(node.Id, await new GrainNodeStore(cluster.Client, "gw-b").FindByTokenHashAsync(node.TokenHash));
    }
}

internal static class Nodes
{
    public static string NewId() => Guid.NewGuid().ToString("N");

    /// <summary>A node with a fresh id and token, created <paramref name="created"/> minutes into 2026.</summary>
    public static NodeRecord New(string name, int created) => new(
        NewId(),
        NodeRecord.LoopbackHost,
        8000 + created,
        NodeRecord.DefaultHealthCheck,
        [new NodeSubscription($"{name}.events.*", null, "/events", TimeSpan.FromSeconds(5))],
        [new NodeSubscription($"{name}.work", "_default", "/work", TimeSpan.FromSeconds(10))],
        NodeStatus.Ok,
        SHA256.HashData(Encoding.UTF8.GetBytes($"token of {name} {Guid.NewGuid():N}")),
        new DateTimeOffset(2026, 1, 1, 0, created, 0, TimeSpan.Zero));

    public static void AssertSame(NodeRecord expected, NodeRecord actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Host, actual.Host);
        Assert.Equal(expected.Port, actual.Port);
        Assert.Equal(expected.HealthCheck, actual.HealthCheck);
        Assert.Equal(expected.Slots, actual.Slots);
        Assert.Equal(expected.Services, actual.Services);
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.TokenHash, actual.TokenHash);
        Assert.Equal(expected.Created, actual.Created);
    }
}
