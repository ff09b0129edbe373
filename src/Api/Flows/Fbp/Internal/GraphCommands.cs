using System.Text.Json.Nodes;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>The <c>graph:*</c> commands: each becomes one <see cref="GraphChange"/> applied through
/// <see cref="IFlowNetworks.ApplyAsync"/>, answered by echoing the command as the schema says (with the merged
/// metadata for change*, the removed IIP's data for removeinitial, and the edges a removed node took with it). Every
/// such reply, and the runtime:ports that follows a port edit, also goes to the other clients watching the graph.</summary>
internal static class GraphCommands
{
    public static async Task HandleAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        var request = GraphRequests.Read(message.Command, message.Payload);
        var networks = session.RequireNetworks();
        var kind = request.Change.Kind;
        if (kind != GraphChangeKind.Clear)
        {
            await FbpCommands.RequireGraphAsync(networks, request.Graph, cancellationToken);
        }

        // What a removal takes with it is read before the change, so that the replies can name it.
        var before = kind is GraphChangeKind.RemoveNode or GraphChangeKind.RemoveInitial
            ? await networks.GetGraphAsync(request.Graph, cancellationToken)
            : null;
        await networks.ApplyAsync(request.Graph, request.Change, cancellationToken);
        if (kind is GraphChangeKind.RemoveEdge or GraphChangeKind.RemoveNode or GraphChangeKind.RenameNode or GraphChangeKind.Clear)
        {
            // An edge that left the graph carries nothing any more: stop reporting what its source sends.
            await NetworkCommands.ForgetRemovedEdgesAsync(session, networks, request.Graph, cancellationToken);
        }
        session.Watch(request.Graph);

        switch (kind)
        {
            case GraphChangeKind.RemoveNode:
                await RemovedWithNodeAsync(session, message, before!, request, cancellationToken);
                break;
            case GraphChangeKind.RemoveInitial:
                var tgt = request.Change.Tgt!;
                var removed = before!.Initials.Where(c => SameEnd(before, c.Tgt, tgt)).ToList();
                if (removed.Count > 0)
                {
                    foreach (var iip in removed)
                    {
                        var reply = (JsonObject)request.Echo.DeepClone();
                        reply.Insert(0, "src", new JsonObject { ["data"] = iip.Data?.DeepClone() });
                        await session.ReplyAndShareAsync(message, request.Graph, "graph", "removeinitial", reply, cancellationToken);
                    }

                    return;
                }

                break;
            case GraphChangeKind.ChangeNode:
                var graph = await networks.GetGraphAsync(request.Graph, cancellationToken);
                request.Echo["metadata"] = graph.Processes.TryGetValue(request.Change.Node!, out var process)
                    ? process.Metadata?.DeepClone() ?? new JsonObject()
                    : new JsonObject();
                break;
            case GraphChangeKind.ChangeEdge:
                var after = await networks.GetGraphAsync(request.Graph, cancellationToken);
                var edge = after.Edges.FirstOrDefault(c => SameEnd(after, c.Src!, request.Change.Src!) && SameEnd(after, c.Tgt, request.Change.Tgt!));
                request.Echo["metadata"] = edge?.Metadata?.DeepClone() ?? new JsonObject();
                break;
        }

        await session.ReplyAndShareAsync(message, request.Graph, "graph", message.Command, request.Echo, cancellationToken);
        if (kind is GraphChangeKind.AddOutport or GraphChangeKind.RemoveOutport or GraphChangeKind.RenameOutport
            or GraphChangeKind.RemoveNode or GraphChangeKind.RenameNode or GraphChangeKind.Clear)
        {
            await session.RefreshOutportsAsync(request.Graph, cancellationToken);
        }

        if (kind is GraphChangeKind.AddInport or GraphChangeKind.RemoveInport or GraphChangeKind.RenameInport
            or GraphChangeKind.AddOutport or GraphChangeKind.RemoveOutport or GraphChangeKind.RenameOutport)
        {
            // "The runtime is responsible for sending the up-to-date list of available ports … whenever it changes."
            await session.ReplyAndShareAsync(message, request.Graph, "runtime", "ports", await RuntimeCommands.PortsAsync(networks, request.Graph, cancellationToken), cancellationToken);
        }
    }

    /// <summary>Tells the client about the edges, IIPs and exported ports removed with a node, then the node itself, as
    /// noflo does (the protocol's runner expects removeedge before removenode).</summary>
    private static async Task RemovedWithNodeAsync(FbpSession session, FbpMessage message, FlowGraph before, GraphRequest request, CancellationToken cancellationToken)
    {
        var node = request.Change.Node!;
        foreach (var c in before.Connections.Where(c => c.Tgt.Process == node || c.Src?.Process == node))
        {
            var payload = c.Src is { } src
                ? new JsonObject { ["src"] = GraphRequests.Port(src), ["tgt"] = GraphRequests.Port(c.Tgt), ["graph"] = request.Graph }
                : new JsonObject { ["src"] = new JsonObject { ["data"] = c.Data?.DeepClone() }, ["tgt"] = GraphRequests.Port(c.Tgt), ["graph"] = request.Graph };
            await session.ReplyAndShareAsync(message, request.Graph, "graph", c.Src is null ? "removeinitial" : "removeedge", payload, cancellationToken);
        }

        foreach (var (exports, command) in new[] { (before.Inports, "removeinport"), (before.Outports, "removeoutport") })
        {
            foreach (var (name, export) in exports)
            {
                if (export.Process == node)
                {
                    await session.ReplyAndShareAsync(message, request.Graph, "graph", command, new JsonObject { ["public"] = name, ["graph"] = request.Graph }, cancellationToken);
                }
            }
        }
    }

    private static bool SameEnd(FlowGraph graph, FlowPortRef stored, FlowPortRef asked) =>
        stored.Process == asked.Process && stored.Port == graph.FoldPort(asked.Port)
        && (asked.Index is null || stored.Index is null || stored.Index == asked.Index);
}
