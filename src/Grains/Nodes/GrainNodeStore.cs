using System.Text.Json;
using Trellis.Core.Nodes;

namespace Trellis.Grains.Nodes;

/// <summary>Node registrations in grains, so every gateway of the cluster sees every node and accepts its token.</summary>
/// <param name="grains">The cluster.</param>
/// <param name="gateway">This gateway's id: the nodes it saves are served by it, and it restores those after a restart.</param>
public sealed class GrainNodeStore(IGrainFactory grains, string gateway) : INodeStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Gateway => gateway;

    public async ValueTask SaveAsync(NodeRecord node, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        cancellationToken.ThrowIfCancellationRequested();
        await grains.GetGrain<INodeGrain>(node.Id).Save(new NodeEntry(JsonSerializer.Serialize(node, Json), gateway)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await grains.GetGrain<INodeTokenGrain>(Convert.ToHexString(node.TokenHash)).Set(node.Id).WaitAsync(cancellationToken).ConfigureAwait(false);
        await grains.GetGrain<INodeDirectoryGrain>(INodeDirectoryGrain.Key).Add(node.Id).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var node = grains.GetGrain<INodeGrain>(id);
        var entry = await node.Get().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return false;
        }

        var record = Read(entry);
        await grains.GetGrain<INodeTokenGrain>(Convert.ToHexString(record.TokenHash)).Clear(id).WaitAsync(cancellationToken).ConfigureAwait(false);
        await grains.GetGrain<INodeDirectoryGrain>(INodeDirectoryGrain.Key).Remove(id).WaitAsync(cancellationToken).ConfigureAwait(false);
        return await node.Delete().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<NodeRecord?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        await grains.GetGrain<INodeGrain>(id).Get().WaitAsync(cancellationToken).ConfigureAwait(false) is { } entry ? Read(entry) : null;

    public async ValueTask<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken cancellationToken = default) =>
        (await EntriesAsync(cancellationToken).ConfigureAwait(false)).Select(static e => Read(e)).OrderBy(static n => n.Created).ThenBy(static n => n.Id, StringComparer.Ordinal).ToArray();

    public async ValueTask<IReadOnlyList<NodeRecord>> ListOwnedAsync(CancellationToken cancellationToken = default) =>
        (await EntriesAsync(cancellationToken).ConfigureAwait(false)).Where(e => e.Gateway == gateway).Select(static e => Read(e))
            .OrderBy(static n => n.Created).ThenBy(static n => n.Id, StringComparer.Ordinal).ToArray();

    public async ValueTask<string?> FindByTokenHashAsync(byte[] tokenHash, CancellationToken cancellationToken = default) =>
        await grains.GetGrain<INodeTokenGrain>(Convert.ToHexString(tokenHash)).Node().WaitAsync(cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<NodeEntry[]> EntriesAsync(CancellationToken cancellationToken)
    {
        var ids = await grains.GetGrain<INodeDirectoryGrain>(INodeDirectoryGrain.Key).List().WaitAsync(cancellationToken).ConfigureAwait(false);
        var entries = await Task.WhenAll(ids.Select(id => grains.GetGrain<INodeGrain>(id).Get())).WaitAsync(cancellationToken).ConfigureAwait(false);
        return entries.OfType<NodeEntry>().ToArray();
    }

    private static NodeRecord Read(NodeEntry entry) =>
        JsonSerializer.Deserialize<NodeRecord>(entry.Record, Json) ?? throw new InvalidOperationException("a stored node record is empty");
}
