using System.Text.Json.Nodes;
using Trellis.Core.Errors;

namespace Trellis.Flows.Graphs;

/// <summary>A flow graph in the JSON graph format of the flowbased <c>fbp</c> parser and the FBP protocol:
/// processes (nodes) with components, connections (edges and IIPs), exported in- and outports, groups and
/// properties. Insertion order is kept, so a graph serialises as the reference parser prints it.</summary>
/// <remarks>The edit methods are the <c>graph:*</c> commands of the FBP runtime protocol; each refuses an edit
/// that names a node or port that is not there with a <see cref="TrellisException"/> saying which.</remarks>
public sealed partial class FlowGraph
{
    public OrderedDictionary<string, FlowExport> Inports { get; } = new(StringComparer.Ordinal);

    public OrderedDictionary<string, FlowExport> Outports { get; } = new(StringComparer.Ordinal);

    public List<FlowGroup> Groups { get; } = [];

    public OrderedDictionary<string, FlowProcess> Processes { get; } = new(StringComparer.Ordinal);

    public List<FlowConnection> Connections { get; } = [];

    public JsonObject Properties { get; set; } = [];

    /// <summary>False (the parser's default): port names are folded to lower case.</summary>
    public bool CaseSensitive { get; set; }

    /// <summary>The graph's name (<c>properties.name</c>), if it has one.</summary>
    public string? Name => Properties["name"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    /// <summary>Connections between two processes (not IIPs).</summary>
    public IEnumerable<FlowConnection> Edges => Connections.Where(static c => c.Src is not null);

    /// <summary>Initial information packets.</summary>
    public IEnumerable<FlowConnection> Initials => Connections.Where(static c => c.Src is null);

    public FlowGraph Clone() => FromJson(ToJson());

    public void AddNode(string id, string component, JsonObject? metadata = null)
    {
        RequireName(id, "node id");
        RequireName(component, "component");
        if (Processes.ContainsKey(id))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"node '{id}' already exists");
        }

        Processes.Add(id, new FlowProcess(component, metadata));
    }

    /// <summary>Removes a node with its edges, IIPs and exported ports.</summary>
    public void RemoveNode(string id)
    {
        RequireNode(id);
        Processes.Remove(id);
        Connections.RemoveAll(c => c.Tgt.Process == id || c.Src?.Process == id);
        RemoveExportsOf(Inports, id);
        RemoveExportsOf(Outports, id);
        foreach (var group in Groups)
        {
            group.Nodes.Remove(id);
        }
    }

    public void RenameNode(string from, string to)
    {
        RequireNode(from);
        RequireName(to, "new node id");
        if (from == to)
        {
            return;
        }

        if (Processes.ContainsKey(to))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"node '{to}' already exists");
        }

        var index = Processes.IndexOf(from);
        var process = Processes[from];
        Processes.RemoveAt(index);
        Processes.Insert(index, to, process);
        foreach (var c in Connections)
        {
            if (c.Src is { } src && src.Process == from)
            {
                c.Src = src with { Process = to };
            }

            if (c.Tgt.Process == from)
            {
                c.Tgt = c.Tgt with { Process = to };
            }
        }

        foreach (var export in Inports.Values.Concat(Outports.Values).Where(e => e.Process == from))
        {
            export.Process = to;
        }

        foreach (var group in Groups)
        {
            var i = group.Nodes.IndexOf(from);
            if (i >= 0)
            {
                group.Nodes[i] = to;
            }
        }
    }

    /// <summary>Merges <paramref name="metadata"/> into the node's: a key with a null value is removed.</summary>
    public void ChangeNode(string id, JsonObject metadata)
    {
        RequireNode(id);
        var process = Processes[id];
        process.Metadata = Merge(process.Metadata, metadata);
    }

    public FlowConnection AddEdge(FlowPortRef src, FlowPortRef tgt, JsonObject? metadata = null)
    {
        RequirePortRef(src, "source");
        RequirePortRef(tgt, "target");
        src = Fold(src);
        tgt = Fold(tgt);
        var existing = Connections.FirstOrDefault(c => c.Src == src && c.Tgt == tgt);
        if (existing is not null)
        {
            return existing;
        }

        var connection = new FlowConnection(src, tgt, null, metadata);
        Connections.Add(connection);
        return connection;
    }

    public FlowConnection RemoveEdge(FlowPortRef src, FlowPortRef tgt)
    {
        src = Fold(src);
        tgt = Fold(tgt);
        var index = Connections.FindIndex(c => c.Src is { } s && SameEnd(s, src) && SameEnd(c.Tgt, tgt));
        if (index < 0)
        {
            throw new TrellisException(ErrorKind.NotFound, $"no edge {Describe(src)} -> {Describe(tgt)}");
        }

        var removed = Connections[index];
        Connections.RemoveAt(index);
        return removed;
    }

    public FlowConnection ChangeEdge(FlowPortRef src, FlowPortRef tgt, JsonObject metadata)
    {
        src = Fold(src);
        tgt = Fold(tgt);
        var edge = Connections.FirstOrDefault(c => c.Src is { } s && SameEnd(s, src) && SameEnd(c.Tgt, tgt))
            ?? throw new TrellisException(ErrorKind.NotFound, $"no edge {Describe(src)} -> {Describe(tgt)}");
        edge.Metadata = Merge(edge.Metadata, metadata);
        return edge;
    }

    public FlowConnection AddInitial(JsonNode? data, FlowPortRef tgt, JsonObject? metadata = null)
    {
        RequirePortRef(tgt, "target");
        var connection = new FlowConnection(null, Fold(tgt), data?.DeepClone(), metadata);
        Connections.Add(connection);
        return connection;
    }

    /// <summary>Removes the IIPs sent to <paramref name="tgt"/> and returns them.</summary>
    public IReadOnlyList<FlowConnection> RemoveInitial(FlowPortRef tgt)
    {
        tgt = Fold(tgt);
        var removed = Connections.Where(c => c.Src is null && SameEnd(c.Tgt, tgt)).ToList();
        if (removed.Count == 0)
        {
            throw new TrellisException(ErrorKind.NotFound, $"no initial packet to {Describe(tgt)}");
        }

        Connections.RemoveAll(removed.Contains);
        return removed;
    }

    public void AddInport(string publicName, string process, string port, JsonObject? metadata = null) =>
        AddExport(Inports, "inport", publicName, process, port, metadata);

    public void AddOutport(string publicName, string process, string port, JsonObject? metadata = null) =>
        AddExport(Outports, "outport", publicName, process, port, metadata);

    public FlowExport RemoveInport(string publicName) => RemoveExport(Inports, "inport", publicName);

    public FlowExport RemoveOutport(string publicName) => RemoveExport(Outports, "outport", publicName);

    public void RenameInport(string from, string to) => RenameExport(Inports, "inport", from, to);

    public void RenameOutport(string from, string to) => RenameExport(Outports, "outport", from, to);

    /// <summary>Empties the graph; properties other than the ones given are dropped.</summary>
    public void Clear(JsonObject? properties = null)
    {
        Inports.Clear();
        Outports.Clear();
        Groups.Clear();
        Processes.Clear();
        Connections.Clear();
        Properties = properties ?? [];
    }

    /// <summary>The port name as the graph stores it (lower case unless the graph is case sensitive).</summary>
    public string FoldPort(string port) => CaseSensitive ? port : port.ToLowerInvariant();

    private FlowPortRef Fold(FlowPortRef end) => end with { Port = FoldPort(end.Port) };

    private static bool SameEnd(FlowPortRef a, FlowPortRef b) =>
        a.Process == b.Process && a.Port == b.Port && (a.Index is null || b.Index is null || a.Index == b.Index);

    private void AddExport(OrderedDictionary<string, FlowExport> ports, string kind, string publicName, string process, string port, JsonObject? metadata)
    {
        RequireName(publicName, $"{kind} name");
        RequireNode(process);
        RequireName(port, $"{kind} port");
        var name = FoldPort(publicName);
        if (ports.ContainsKey(name))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"{kind} '{name}' already exists");
        }

        ports.Add(name, new FlowExport(process, FoldPort(port), metadata));
    }

    private FlowExport RemoveExport(OrderedDictionary<string, FlowExport> ports, string kind, string publicName)
    {
        var name = FoldPort(publicName);
        if (!ports.Remove(name, out var export))
        {
            throw new TrellisException(ErrorKind.NotFound, $"no {kind} '{publicName}'");
        }

        return export;
    }

    private void RenameExport(OrderedDictionary<string, FlowExport> ports, string kind, string from, string to)
    {
        RequireName(to, $"new {kind} name");
        var name = FoldPort(from);
        var index = ports.IndexOf(name);
        if (index < 0)
        {
            throw new TrellisException(ErrorKind.NotFound, $"no {kind} '{from}'");
        }

        var newName = FoldPort(to);
        if (newName != name && ports.ContainsKey(newName))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"{kind} '{newName}' already exists");
        }

        var export = ports.GetAt(index).Value;
        ports.RemoveAt(index);
        ports.Insert(index, newName, export);
    }

    private static void RemoveExportsOf(OrderedDictionary<string, FlowExport> ports, string process)
    {
        foreach (var key in ports.Where(p => p.Value.Process == process).Select(p => p.Key).ToList())
        {
            ports.Remove(key);
        }
    }

    private void RequireNode(string id)
    {
        RequireName(id, "node id");
        if (!Processes.ContainsKey(id))
        {
            throw new TrellisException(ErrorKind.NotFound, $"no node '{id}' in the graph");
        }
    }

    private void RequirePortRef(FlowPortRef end, string which)
    {
        if (end is null)
        {
            throw TrellisException.Invalid($"the edge needs a {which}");
        }

        RequireName(end.Process, $"{which} node");
        RequireName(end.Port, $"{which} port");
        if (end.Index is < 0)
        {
            throw TrellisException.Invalid($"the {which} port index must not be negative (was {end.Index})");
        }

        if (!Processes.ContainsKey(end.Process))
        {
            throw new TrellisException(ErrorKind.NotFound, $"the {which} node '{end.Process}' is not in the graph");
        }
    }

    private static void RequireName(string? value, string what)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw TrellisException.Invalid($"the {what} must not be empty");
        }
    }

    private static JsonObject? Merge(JsonObject? current, JsonObject changes)
    {
        var merged = current?.DeepClone().AsObject() ?? [];
        foreach (var (key, value) in changes)
        {
            if (value is null)
            {
                merged.Remove(key);
            }
            else
            {
                merged[key] = value.DeepClone();
            }
        }

        return merged.Count == 0 ? null : merged;
    }

    internal static string Describe(FlowPortRef end) =>
        end.Index is { } i ? $"{end.Process}.{end.Port}[{i}]" : $"{end.Process}.{end.Port}";
}

/// <summary>One end of a connection: a node's port, with an optional array-port index.</summary>
public sealed record FlowPortRef(string Process, string Port, int? Index = null)
{
    public override string ToString() => FlowGraph.Describe(this);
}

/// <summary>A node of the graph: the component it runs (in MsgFlo, the node id is the participant's role).</summary>
public sealed class FlowProcess(string component, JsonObject? metadata = null)
{
    public string Component { get; set; } = component;

    public JsonObject? Metadata { get; set; } = metadata;
}

/// <summary>An edge (<see cref="Src"/> set) or an initial information packet (<see cref="Src"/> null, <see cref="Data"/>).</summary>
public sealed class FlowConnection(FlowPortRef? src, FlowPortRef tgt, JsonNode? data = null, JsonObject? metadata = null)
{
    public FlowPortRef? Src { get; set; } = src;

    public FlowPortRef Tgt { get; set; } = tgt;

    public JsonNode? Data { get; set; } = data;

    public JsonObject? Metadata { get; set; } = metadata;

    public bool IsInitial => Src is null;
}

/// <summary>An exported port: the public name maps to a node's port.</summary>
public sealed class FlowExport(string process, string port, JsonObject? metadata = null)
{
    public string Process { get; set; } = process;

    public string Port { get; set; } = port;

    public JsonObject? Metadata { get; set; } = metadata;
}

public sealed class FlowGroup(string name, List<string> nodes, JsonObject? metadata = null)
{
    public string Name { get; set; } = name;

    public List<string> Nodes { get; } = nodes;

    public JsonObject? Metadata { get; set; } = metadata;
}
