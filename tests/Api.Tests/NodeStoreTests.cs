using Trellis.Core.Nodes;
using Trellis.Storage.Nodes;

namespace Trellis.Api.Tests;

/// <summary>What every <see cref="INodeStore"/> does; each implementation is a short subclass.</summary>
public abstract class NodeStoreConformance : IAsyncLifetime
{
    protected INodeStore Store { get; private set; } = null!;

    protected abstract INodeStore Create();

    public ValueTask InitializeAsync()
    {
        Store = Create();
        return ValueTask.CompletedTask;
    }

    public virtual ValueTask DisposeAsync() => Store.DisposeAsync();

    private static NodeRecord Sample(string id, DateTimeOffset created) => new(
        id, NodeRecord.LoopbackHost, 8080, "/health",
        [new NodeSubscription("a.*", null, "/slot", TimeSpan.FromSeconds(1.5))],
        [new NodeSubscription("a.b", "g", "/svc?x=1", TimeSpan.FromSeconds(30))],
        NodeStatus.Ok, NodeCredentials.Hash("token"), created);

    [Fact]
    public async Task Records_round_trip_update_list_in_order_and_delete()
    {
        var ct = TestContext.Current.CancellationToken;
        var first = Sample(NodeCredentials.NewId(), new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var second = Sample(NodeCredentials.NewId(), first.Created.AddMinutes(1));
        await Store.SaveAsync(second, ct);
        await Store.SaveAsync(first, ct);

        var read = await Store.GetAsync(first.Id, ct);
        Assert.NotNull(read);
        Assert.Equal(first.Port, read.Port);
        Assert.Equal(first.Slots, read.Slots);
        Assert.Equal(first.Services, read.Services);
        Assert.Equal(first.TokenHash, read.TokenHash);
        Assert.Equal(first.Created, read.Created);

        await Store.SaveAsync(first with { Status = NodeStatus.Dirty, Slots = [] }, ct);
        var updated = await Store.GetAsync(first.Id, ct);
        Assert.Equal(NodeStatus.Dirty, updated!.Status);
        Assert.Empty(updated.Slots);

        Assert.Equal([first.Id, second.Id], (await Store.ListAsync(ct)).Select(n => n.Id));
        Assert.True(await Store.DeleteAsync(first.Id, ct));
        Assert.False(await Store.DeleteAsync(first.Id, ct));
        Assert.Null(await Store.GetAsync(first.Id, ct));
        Assert.Single(await Store.ListAsync(ct));
    }
}

/// <summary>The conformance suite on <see cref="InMemoryNodeStore"/>.</summary>
public sealed class InMemoryNodeStoreTests : NodeStoreConformance
{
    protected override INodeStore Create() => new InMemoryNodeStore();
}

/// <summary>The conformance suite on <see cref="SqliteNodeStore"/>, plus what only a file can do.</summary>
public sealed class SqliteNodeStoreTests : NodeStoreConformance
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "trellis-nodes-" + Guid.NewGuid().ToString("N"), "nodes.db");

    protected override INodeStore Create() => SqliteNodeStore.Open(_path);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);
    }

    [Fact]
    public async Task A_second_store_on_the_same_file_sees_the_records()
    {
        var record = new NodeRecord(NodeCredentials.NewId(), "127.0.0.1", 1, "/h", [], [], NodeStatus.Unavailable, NodeCredentials.Hash("t"), DateTimeOffset.UnixEpoch);
        await Store.SaveAsync(record, TestContext.Current.CancellationToken);
        await using var other = SqliteNodeStore.Open(_path);
        Assert.Equal(NodeStatus.Unavailable, (await other.GetAsync(record.Id, TestContext.Current.CancellationToken))!.Status);
    }

    [Fact]
    public void A_file_that_cannot_be_created_is_refused_naming_the_key()
    {
        var e = Assert.Throws<Trellis.Core.Errors.TrellisException>(() => SqliteNodeStore.Open("/proc/trellis/nodes.db"));
        Assert.Contains("Trellis:Storage:Sqlite:Path", e.Message);
    }
}
