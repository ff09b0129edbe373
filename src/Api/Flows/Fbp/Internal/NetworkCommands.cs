using System.Globalization;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary><c>network:start|stop|getstatus|edges</c> (fbp-protocol schema/yaml/network.yml); data seen on watched edges
/// is pushed as <c>network:data</c>.</summary>
internal static class NetworkCommands
{
    public static async Task HandleAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken)
    {
        var p = new FbpPayload($"network:{message.Command}", message.Payload);
        switch (message.Command)
        {
            case "start" or "stop" or "getstatus" or "edges":
                break;
            case "persist" or "debug":
                throw new FbpProtocolException($"network:{message.Command} is not supported by this runtime");
            default:
                throw new FbpProtocolException($"unknown command network:{message.Command} (start, stop, getstatus, edges)");
        }

        // The schema requires graph; msgflo clients leave it out and mean the main graph.
        var graph = p.OptionalString("graph") is { Length: > 0 } g ? g : IFlowNetworks.DefaultGraph;
        var networks = session.RequireNetworks();
        await FbpCommands.RequireGraphAsync(networks, graph, cancellationToken);
        switch (message.Command)
        {
            case "start":
            {
                await session.WatchOutportsAsync(graph, cancellationToken);
                if (!session.EdgeWatches.ContainsKey(graph))
                {
                    // A client that selected no edges sees them all, as on noflo runtimes.
                    // Edge by edge, so that one whose participant is not there yet does not hide the others.
                    var definition = await networks.GetGraphAsync(graph, cancellationToken);
                    await WatchEachAsync(session, networks, graph, [.. definition.Edges.Select(static e => (e.Src!, e.Tgt))], cancellationToken);
                }

                var status = await networks.StartAsync(graph, cancellationToken);
                var reply = Status(session, status, includeUptime: false);
                reply["time"] = Time(status.StartedAt ?? session.Runtime.Clock.GetUtcNow());
                await session.ReplyAsync(message, "started", reply, cancellationToken);
                break;
            }

            case "stop":
            {
                var before = await networks.GetStatusAsync(graph, cancellationToken);
                var status = await networks.StopAsync(graph, cancellationToken);
                var reply = Status(session, status, includeUptime: false);
                var now = session.Runtime.Clock.GetUtcNow();
                reply["time"] = Time(now);
                if (before.StartedAt is { } started)
                {
                    reply["uptime"] = Math.Max(0, (now - started).TotalSeconds);
                }

                await session.ReplyAsync(message, "stopped", reply, cancellationToken);
                break;
            }

            case "getstatus":
                await session.ReplyAsync(message, "status", Status(session, await networks.GetStatusAsync(graph, cancellationToken), includeUptime: true), cancellationToken);
                break;
            default:
                await EdgesAsync(session, message, p, networks, graph, cancellationToken);
                break;
        }
    }

    private static async Task EdgesAsync(FbpSession session, FbpMessage message, FbpPayload p, IFlowNetworks networks, string graph, CancellationToken cancellationToken)
    {
        if (p.Raw["edges"] is not JsonArray array)
        {
            throw p.Error("payload.edges is required (an array of {src, tgt})");
        }

        var edges = new List<(FlowPortRef, FlowPortRef)>(array.Count);
        var echo = new JsonArray();
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonObject edge)
            {
                throw p.Error($"payload.edges[{i}] must be an object {{src, tgt}}");
            }

            var src = p.PortRef(edge["src"] as JsonObject ?? throw p.Error($"payload.edges[{i}].src is required (an object)"), $"payload.edges[{i}].src");
            var tgt = p.PortRef(edge["tgt"] as JsonObject ?? throw p.Error($"payload.edges[{i}].tgt is required (an object)"), $"payload.edges[{i}].tgt");
            edges.Add((src, tgt));
            echo.Add(new JsonObject { ["src"] = GraphRequests.Port(src), ["tgt"] = GraphRequests.Port(tgt) });
        }

        await WatchAsync(session, networks, graph, edges, cancellationToken);
        await session.ReplyAsync(message, "edges", new JsonObject { ["edges"] = echo, ["graph"] = graph }, cancellationToken);
    }

    /// <summary>Replaces the client's watch of the graph's edges.</summary>
    private static async Task WatchAsync(FbpSession session, IFlowNetworks networks, string graph, IReadOnlyList<(FlowPortRef Src, FlowPortRef Tgt)> edges, CancellationToken cancellationToken)
    {
        if (session.EdgeWatches.Remove(graph, out var previous))
        {
            await previous.DisposeAsync();
        }

        session.WatchedEdges.Remove(graph);
        session.EdgeWatches[graph] = await networks.WatchEdgesAsync(graph, edges, (packet, _) => Push(session, packet), cancellationToken);
        session.WatchedEdges[graph] = edges;
    }

    /// <summary>Watches the edges one by one, so that one whose participant is not there yet does not hide the others.</summary>
    private static async Task WatchEachAsync(FbpSession session, IFlowNetworks networks, string graph, IReadOnlyList<(FlowPortRef Src, FlowPortRef Tgt)> edges, CancellationToken cancellationToken)
    {
        var watches = new WatchSet();
        foreach (var edge in edges)
        {
            try
            {
                watches.Add(await networks.WatchEdgesAsync(graph, [edge], (packet, _) => Push(session, packet), cancellationToken));
            }
            catch (TrellisException)
            {
            }
        }

        session.EdgeWatches[graph] = watches;
        session.WatchedEdges[graph] = edges;
    }

    /// <summary>After an edit that removed edges, keeps watching only the client's edges still in the graph.</summary>
    public static async Task ForgetRemovedEdgesAsync(FbpSession session, IFlowNetworks networks, string graph, CancellationToken cancellationToken)
    {
        if (!session.WatchedEdges.TryGetValue(graph, out var watched))
        {
            return;
        }

        var definition = await networks.GetGraphAsync(graph, cancellationToken);
        var remaining = watched.Where(w => definition.Edges.Any(e => e.Src is { } src && Same(definition, src, w.Src) && Same(definition, e.Tgt, w.Tgt))).ToList();
        if (remaining.Count == watched.Count)
        {
            return;
        }

        if (session.EdgeWatches.Remove(graph, out var previous))
        {
            await previous.DisposeAsync();
        }

        await WatchEachAsync(session, networks, graph, remaining, cancellationToken);
    }

    private static bool Same(FlowGraph graph, FlowPortRef stored, FlowPortRef asked) =>
        stored.Process == asked.Process && stored.Port == graph.FoldPort(asked.Port)
        && (asked.Index is null || stored.Index is null || stored.Index == asked.Index);

    private static ValueTask Push(FbpSession session, FlowPacket packet) =>
        packet.Tgt is null ? ValueTask.CompletedTask : session.PushAsync("network", "data", Data(packet));

    /// <summary>The watches of several edges, stopped together.</summary>
    private sealed class WatchSet : IAsyncDisposable
    {
        private readonly List<IAsyncDisposable> _watches = [];

        public void Add(IAsyncDisposable watch) => _watches.Add(watch);

        public async ValueTask DisposeAsync()
        {
            foreach (var watch in _watches)
            {
                await watch.DisposeAsync();
            }

            _watches.Clear();
        }
    }

    /// <summary>A <c>network:data</c> payload; its id is the edge as an FBP line (<c>A() OUT -> IN B()</c>, an IIP as
    /// <c>DATA -> IN B()</c>), as noflo writes it.</summary>
    internal static JsonObject Data(FlowPacket packet)
    {
        var tgt = packet.Tgt!;
        var id = packet.Src is { } src
            ? $"{src.Process}() {PortName(src)} -> {PortName(tgt)} {tgt.Process}()"
            : $"DATA -> {PortName(tgt)} {tgt.Process}()";
        var o = new JsonObject { ["id"] = id, ["graph"] = packet.Graph };
        if (packet.Src is { } s)
        {
            o["src"] = GraphRequests.Port(s);
        }

        o["tgt"] = GraphRequests.Port(tgt);
        o["data"] = packet.Data?.DeepClone();
        return o;
    }

    private static string PortName(FlowPortRef end) =>
        end.Index is { } i ? $"{end.Port.ToUpperInvariant()}[{i}]" : end.Port.ToUpperInvariant();

    private static JsonObject Status(FbpSession session, NetworkStatus status, bool includeUptime)
    {
        var o = new JsonObject { ["graph"] = status.Graph, ["started"] = status.Started, ["running"] = status.Running };
        if (includeUptime && status.Running && status.StartedAt is { } started)
        {
            o["uptime"] = Math.Max(0, (session.Runtime.Clock.GetUtcNow() - started).TotalSeconds);
        }

        return o;
    }

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
