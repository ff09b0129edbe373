using Trellis.Core.Nodes;

namespace Trellis.Api.Proxy.Internal;

/// <summary>A registered node as the gateway holds it: its record and the bus subscriptions made for it.</summary>
/// <remarks>Changes to one node (subscriptions, status, deletion) are serialised by <see cref="Gate"/>; deliveries read
/// <see cref="Record"/> without it, seeing either the old or the new record.</remarks>
internal sealed class LiveNode(NodeRecord record)
{
    private NodeRecord _record = record;

    public string Id { get; } = record.Id;

    public NodeRecord Record
    {
        get => Volatile.Read(ref _record);
        set => Volatile.Write(ref _record, value);
    }

    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The subscriptions live on the bus now (under <see cref="Gate"/>).</summary>
    public List<ActiveSubscription> Active { get; } = [];

    /// <summary>The Connect stream that serves the node now, if any (set under <see cref="Gate"/>, read by deliveries).</summary>
    public NodeStream? Stream
    {
        get => Volatile.Read(ref _stream);
        set => Volatile.Write(ref _stream, value);
    }

    private NodeStream? _stream;

    /// <summary>Set under <see cref="Gate"/> once the node is deleted; later changes are refused.</summary>
    public bool Deleted { get; set; }

    /// <summary>1 while a health check runs, so a slow node is not checked twice at once.</summary>
    public int Checking;

    /// <summary>1 while marking the node dirty after a refused delivery, so a burst of refusals marks it once.</summary>
    public int MarkingDirty;
}

/// <summary>A node's slot or service that is subscribed on the bus; disposing the handle unsubscribes it.</summary>
internal sealed record ActiveSubscription(NodeSubscription Subscription, bool IsService, IAsyncDisposable Handle);
