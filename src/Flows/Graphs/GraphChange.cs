using System.Text.Json.Nodes;

namespace Trellis.Flows.Graphs;

/// <summary>The kinds of edit a graph takes: the <c>graph:*</c> commands of the FBP runtime protocol.</summary>
public enum GraphChangeKind
{
    Clear,
    AddNode,
    RemoveNode,
    RenameNode,
    ChangeNode,
    AddEdge,
    RemoveEdge,
    ChangeEdge,
    AddInitial,
    RemoveInitial,
    AddInport,
    RemoveInport,
    RenameInport,
    AddOutport,
    RemoveOutport,
    RenameOutport,
}

/// <summary>One edit of a graph, as data (so it can travel to the graph's grain and be logged).</summary>
/// <param name="Node">The node (AddNode, RemoveNode, RenameNode's old id, ChangeNode), or the node of an exported port.</param>
/// <param name="Name">The new id (RenameNode), the public port name (ports), or the new public name (Rename*port: <see cref="Port"/> holds the old one).</param>
/// <param name="Data">The IIP's data (AddInitial).</param>
/// <param name="Metadata">Node, edge, IIP or port metadata; for ChangeNode and ChangeEdge the keys to merge (null values remove).</param>
/// <param name="Properties">Clear: the new graph's properties (name, environment, …).</param>
public sealed record GraphChange(
    GraphChangeKind Kind,
    string? Node = null,
    string? Component = null,
    string? Name = null,
    string? Port = null,
    FlowPortRef? Src = null,
    FlowPortRef? Tgt = null,
    JsonNode? Data = null,
    JsonObject? Metadata = null,
    JsonObject? Properties = null)
{
    /// <summary>Applies the change, or throws a <see cref="Trellis.Core.Errors.TrellisException"/> naming what is wrong
    /// and leaves the graph as it was.</summary>
    public void ApplyTo(FlowGraph graph)
    {
        switch (Kind)
        {
            case GraphChangeKind.Clear:
                graph.Clear(Properties?.DeepClone().AsObject());
                break;
            case GraphChangeKind.AddNode:
                graph.AddNode(Node!, Component!, Metadata);
                break;
            case GraphChangeKind.RemoveNode:
                graph.RemoveNode(Node!);
                break;
            case GraphChangeKind.RenameNode:
                graph.RenameNode(Node!, Name!);
                break;
            case GraphChangeKind.ChangeNode:
                graph.ChangeNode(Node!, Metadata ?? []);
                break;
            case GraphChangeKind.AddEdge:
                graph.AddEdge(Src!, Tgt!, Metadata);
                break;
            case GraphChangeKind.RemoveEdge:
                graph.RemoveEdge(Src!, Tgt!);
                break;
            case GraphChangeKind.ChangeEdge:
                graph.ChangeEdge(Src!, Tgt!, Metadata ?? []);
                break;
            case GraphChangeKind.AddInitial:
                graph.AddInitial(Data, Tgt!, Metadata);
                break;
            case GraphChangeKind.RemoveInitial:
                graph.RemoveInitial(Tgt!);
                break;
            case GraphChangeKind.AddInport:
                graph.AddInport(Name!, Node!, Port!, Metadata);
                break;
            case GraphChangeKind.RemoveInport:
                graph.RemoveInport(Name!);
                break;
            case GraphChangeKind.RenameInport:
                graph.RenameInport(Port!, Name!);
                break;
            case GraphChangeKind.AddOutport:
                graph.AddOutport(Name!, Node!, Port!, Metadata);
                break;
            case GraphChangeKind.RemoveOutport:
                graph.RemoveOutport(Name!);
                break;
            case GraphChangeKind.RenameOutport:
                graph.RenameOutport(Port!, Name!);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown graph change");
        }
    }
}
