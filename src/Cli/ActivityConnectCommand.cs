using System.CommandLine;
using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Flows.Activities;
using Trellis.Flows.Graphs;

namespace Trellis.Cli;

/// <summary><c>trellis activity connect A:B [--graph G]</c>: adds the edge <c>A OUT -> IN B</c> (nodes named by the
/// activities' roles, added when missing) to a graph of the cluster through the flows API (GET then PUT
/// /flows/graphs/{G}); the coordinator wires it as soon as both participants are announced.</summary>
internal static class ActivityConnectCommand
{
    public const string DefaultGraph = "activities/main";

    public static Command Create(Option<string?> home)
    {
        var pair = new Argument<string>("a:b") { Description = "source and target activity (uuid, name or role), as A:B" };
        var graph = new Option<string>("--graph") { Description = "the graph to add the edge to", DefaultValueFactory = _ => DefaultGraph };
        var outPort = new Option<string>("--out") { Description = "the source's outport", DefaultValueFactory = _ => "out" };
        var inPort = new Option<string>("--in") { Description = "the target's inport", DefaultValueFactory = _ => "in" };
        var command = new Command("connect", "Connect activity A's output to activity B's input in the cluster's graph") { pair, graph, outPort, inPort };
        command.SetAction((parse, ct) => ActivityCommand.RunAsync(parse, async output =>
        {
            var parts = parse.GetValue(pair)!.Split(':');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                throw TrellisException.Invalid($"'{parse.GetValue(pair)}' is not A:B (two activities joined by one ':')");
            }

            var store = ActivityCommand.Store(parse, home);
            var (srcRole, srcComponent) = Resolve(store, parts[0]);
            var (tgtRole, tgtComponent) = Resolve(store, parts[1]);
            var name = parse.GetValue(graph)!;

            using var client = ClusterClient.Create(parse);
            var path = $"/flows/graphs/{name}";
            var (_, current) = await client.SendAsync(HttpMethod.Get, path, null, ct);
            var g = current.ValueKind == JsonValueKind.Object ? FlowGraph.FromJson(current.GetRawText()) : new FlowGraph();
            if (!g.Processes.ContainsKey(srcRole))
            {
                g.AddNode(srcRole, srcComponent);
            }

            if (!g.Processes.ContainsKey(tgtRole))
            {
                g.AddNode(tgtRole, tgtComponent);
            }

            var src = new FlowPortRef(srcRole, g.FoldPort(parse.GetValue(outPort)!));
            var tgt = new FlowPortRef(tgtRole, g.FoldPort(parse.GetValue(inPort)!));
            if (!g.Edges.Any(e => e.Src == src && e.Tgt == tgt))
            {
                g.AddEdge(src, tgt);
            }

            var (_, setup) = await client.SendAsync(HttpMethod.Put, path, ClusterClient.Json(g.ToJson(indented: false)), ct);
            await output.WriteLineAsync($"connected {srcRole} {src.Port.ToUpperInvariant()} -> {tgt.Port.ToUpperInvariant()} {tgtRole} in graph {name}");
            if (setup.ValueKind == JsonValueKind.Object)
            {
                foreach (var field in new[] { "pending", "problems" })
                {
                    if (setup.TryGetProperty(field, out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0)
                    {
                        await output.WriteLineAsync($"{field}: {string.Join(", ", list.EnumerateArray().Select(static e => e.ToString()))}");
                    }
                }
            }

            return CliApp.Ok;
        }));
        return command;
    }

    /// <summary>An installed activity gives its role and name; anything else is taken as a role (an activity on another host).</summary>
    private static (string Role, string Component) Resolve(ActivityStore store, string selector)
    {
        if (store.Exists && store.TryFind(selector) is { } installed)
        {
            return (installed.Manifest.Role, installed.Manifest.Name);
        }

        var role = ActivityManifest.RoleOf(selector);
        if (!ActivityManifest.IsValidName(selector) && !Guid.TryParse(selector, out _))
        {
            throw TrellisException.Invalid($"'{selector}' is neither an installed activity nor a valid role");
        }

        if (Guid.TryParse(selector, out _))
        {
            throw new TrellisException(ErrorKind.NotFound, $"activity {selector} is not installed in {store.Home}; name it by its role instead");
        }

        return (role, selector);
    }
}
