using System.Text.Json;
using Orleans.Runtime;
using Trellis.Api.Edge.Internal;
using Trellis.Api.Proxy;
using Trellis.Core.Nodes;
using Trellis.Grains.Activities;
using Trellis.Grains.Apps;
using Trellis.Grains.Cluster;
using Trellis.Grains.Devices;
using Trellis.Grains.Flows;
using Trellis.Grains.Nodes;

namespace Trellis.Api.Console.Internal;

/// <summary>Reads what the console shows from the grains the APIs use (node registrations, apps, flows, activities,
/// devices) and Orleans' management grain, and writes it as the console's JSON. It writes names, states and counts only:
/// never a token, its hash, a grant's secret or a connection string.</summary>
internal sealed class ClusterReader(IGrainFactory grains, NodeRegistry registry, string gatewayId, TimeProvider time)
{
    private static readonly JsonSerializerOptions RecordJson = new(JsonSerializerDefaults.Web);
    private static readonly GrainType AppGrainType = GrainType.Create("app");

    private readonly Dictionary<string, (long Pokes, DateTimeOffset At)> _pokes = new(StringComparer.Ordinal);

    public string GatewayId => gatewayId;

    /// <summary>Forgets the poke counts (the next snapshot starts the rates anew).</summary>
    public void Reset()
    {
        lock (_pokes)
        {
            _pokes.Clear();
        }
    }

    /// <summary>Writes one snapshot: every section, each one <c>{"error": ...}</c> instead when it cannot be read now.</summary>
    public async Task WriteSnapshotAsync(Utf8JsonWriter json, MetricsSnapshot metrics, ErrorTail errors, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var nodes = await Try(ReadNodesAsync);
        var devices = await Try(() => DeviceDirectory.ListAsync(grains));
        var silos = await Try(ReadSilosAsync);
        var apps = await Try(ReadAppsAsync);
        var flows = await Try(ReadFlowsAsync);
        var activities = await Try(ReadActivitiesAsync);
        cancellationToken.ThrowIfCancellationRequested();

        json.WriteStartObject();
        json.WriteString("time", now);
        json.WriteString("gateway", gatewayId);
        Section(json, "silos", silos, WriteSilos);
        WriteGateways(json, nodes.Value, devices.Value);
        json.WriteStartArray("orleans");
        foreach (var counter in metrics.Orleans)
        {
            json.WriteStartObject();
            json.WriteString("name", counter.Name);
            json.WriteNumber("value", counter.Value);
            json.WriteString("unit", counter.Unit);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        Section(json, "nodes", nodes, (w, n) => WriteNodes(w, n, metrics.Topics));
        Section(json, "apps", apps, (w, a) => WriteApps(w, a, now));
        Section(json, "flows", flows, WriteFlows);
        Section(json, "activities", activities, WriteActivities);
        Section(json, "devices", devices, WriteDevices);
        WriteTopics(json, metrics.Topics);
        WriteErrors(json, errors);
        json.WriteEndObject();
    }

    /// <summary>Writes a graph for drawing: its processes with their components and its connections (an IIP shows as
    /// one, without its data).</summary>
    public async Task<bool> WriteGraphAsync(Utf8JsonWriter json, string name)
    {
        var names = await grains.GetGrain<IFlowDirectoryGrain>(IFlowDirectoryGrain.Key).Graphs();
        if (!names.Contains(name, StringComparer.Ordinal))
        {
            return false;
        }

        using var graph = JsonDocument.Parse(await grains.GetGrain<IFlowGraphGrain>(name).Get());
        var root = graph.RootElement;
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteStartArray("processes");
        if (root.TryGetProperty("processes", out var processes) && processes.ValueKind == JsonValueKind.Object)
        {
            foreach (var process in processes.EnumerateObject())
            {
                json.WriteStartObject();
                json.WriteString("name", process.Name);
                json.WriteString("component", process.Value.TryGetProperty("component", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : "");
                json.WriteEndObject();
            }
        }

        json.WriteEndArray();
        json.WriteStartArray("connections");
        if (root.TryGetProperty("connections", out var connections) && connections.ValueKind == JsonValueKind.Array)
        {
            foreach (var connection in connections.EnumerateArray())
            {
                json.WriteStartObject();
                if (connection.TryGetProperty("src", out var src) && src.ValueKind == JsonValueKind.Object)
                {
                    WriteEnd(json, "src", src);
                }
                else
                {
                    json.WriteBoolean("iip", true);
                }

                if (connection.TryGetProperty("tgt", out var tgt) && tgt.ValueKind == JsonValueKind.Object)
                {
                    WriteEnd(json, "tgt", tgt);
                }

                json.WriteEndObject();
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
        return true;

        static void WriteEnd(Utf8JsonWriter json, string name, JsonElement end)
        {
            json.WriteStartObject(name);
            json.WriteString("process", end.TryGetProperty("process", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : "");
            json.WriteString("port", end.TryGetProperty("port", out var q) && q.ValueKind == JsonValueKind.String ? q.GetString() : "");
            json.WriteEndObject();
        }
    }

    // ---------------------------------------------------------------- reading

    private async Task<List<(NodeRecord Record, string Gateway)>> ReadNodesAsync()
    {
        var ids = await grains.GetGrain<INodeDirectoryGrain>(INodeDirectoryGrain.Key).List();
        var entries = await Task.WhenAll(ids.Select(id => grains.GetGrain<INodeGrain>(id).Get()));
        var nodes = new List<(NodeRecord, string)>(entries.Length);
        foreach (var entry in entries)
        {
            if (entry is not null && JsonSerializer.Deserialize<NodeRecord>(entry.Record, RecordJson) is { } record)
            {
                // This gateway's own nodes with their live status; others as last stored.
                nodes.Add((registry.StatusOf(record.Id) is { } live ? record with { Status = live } : record, entry.Gateway));
            }
        }

        nodes.Sort(static (a, b) => a.Item1.Created.CompareTo(b.Item1.Created) is var c and not 0 ? c : string.CompareOrdinal(a.Item1.Id, b.Item1.Id));
        return nodes;
    }

    private async Task<(MembershipEntry[] Hosts, SiloRuntimeStatistics[] Stats)> ReadSilosAsync()
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        var active = hosts.Where(static h => h.Status == SiloStatus.Active).Select(static h => h.SiloAddress).ToArray();
        var stats = active.Length == 0 ? [] : await management.GetRuntimeStatistics(active);
        return (hosts, stats);
    }

    private async Task<JsonElement[]> ReadAppsAsync()
    {
        var ids = await grains.GetGrain<IManagementGrain>(0).GetActiveGrains(AppGrainType);
        var infos = await Task.WhenAll(ids.Select(id => id.Key.ToString()!).Distinct(StringComparer.Ordinal).Select(async app =>
        {
            var answer = await grains.GetGrain<IAppGrain>(app).Call(new AppCall("info", null, $"console-{Guid.NewGuid():N}"));
            if (answer.Code != 200)
            {
                return (JsonElement?)null;
            }

            using var doc = JsonDocument.Parse(answer.Data);
            return doc.RootElement.Clone();
        }));
        return [.. infos.OfType<JsonElement>().Where(static i => i.TryGetProperty("agent", out var a) && a.ValueKind == JsonValueKind.String)];
    }

    private async Task<(FlowParticipantEntry[] Participants, (string Name, FlowNetworkState State)[] Graphs)> ReadFlowsAsync()
    {
        var directory = grains.GetGrain<IFlowDirectoryGrain>(IFlowDirectoryGrain.Key);
        var participants = await directory.Participants();
        var names = await directory.Graphs();
        var states = await Task.WhenAll(names.Select(async n => (n, await grains.GetGrain<IFlowGraphGrain>(n).Status())));
        return (participants, states);
    }

    private async Task<ActivityRecord[]> ReadActivitiesAsync()
    {
        var ids = await grains.GetGrain<IActivityDirectoryGrain>(IActivityDirectoryGrain.Key).List();
        var records = await Task.WhenAll(ids.Select(id => grains.GetGrain<IActivityGrain>(id).Get()));
        return [.. records.OfType<ActivityRecord>()];
    }

    private static async Task<Result<T>> Try<T>(Func<Task<T>> read)
    {
        try
        {
            return new Result<T>(await read().ConfigureAwait(false), null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The section says what went wrong by kind only: exception messages may carry addresses or settings.
            return new Result<T>(default, ClusterFaults.CannotAnswerNow(e) ? "the cluster did not answer" : $"could not be read ({e.GetType().Name})");
        }
    }

    private static void Section<T>(Utf8JsonWriter json, string name, Result<T> result, Action<Utf8JsonWriter, T> write)
    {
        json.WritePropertyName(name);
        if (result.Error is { } error)
        {
            json.WriteStartObject();
            json.WriteString("error", error);
            json.WriteEndObject();
            return;
        }

        write(json, result.Value!);
    }

    // ---------------------------------------------------------------- writing

    private static void WriteSilos(Utf8JsonWriter json, (MembershipEntry[] Hosts, SiloRuntimeStatistics[] Stats) silos)
    {
        // Statistics come in the order of the active silos asked for.
        var active = silos.Hosts.Where(static h => h.Status == SiloStatus.Active).ToArray();
        json.WriteStartArray();
        foreach (var host in silos.Hosts.OrderBy(static h => h.SiloAddress.ToParsableString(), StringComparer.Ordinal))
        {
            json.WriteStartObject();
            json.WriteString("address", host.SiloAddress.ToParsableString());
            json.WriteString("name", host.SiloName);
            json.WriteString("host", host.HostName);
            json.WriteString("status", host.Status.ToString());
            json.WriteString("started", host.StartTime);
            json.WriteString("alive", host.IAmAliveTime);
            var index = Array.FindIndex(active, h => h.SiloAddress.Equals(host.SiloAddress));
            if (index >= 0 && index < silos.Stats.Length)
            {
                var s = silos.Stats[index];
                json.WriteNumber("activations", s.ActivationCount);
                json.WriteNumber("recentActivations", s.RecentlyUsedActivationCount);
                json.WriteNumber("cpu", s.EnvironmentStatistics.FilteredCpuUsagePercentage);
                json.WriteNumber("memory", s.EnvironmentStatistics.FilteredMemoryUsageBytes);
                json.WriteNumber("availableMemory", s.EnvironmentStatistics.FilteredAvailableMemoryBytes);
                json.WriteNumber("clients", s.ClientCount);
                json.WriteNumber("received", s.ReceivedMessages);
                json.WriteNumber("sent", s.SentMessages);
                json.WriteBoolean("overloaded", s.IsOverloaded);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary>Nothing lists gateways: they are the ones node registrations and device links name, and this process.</summary>
    private void WriteGateways(Utf8JsonWriter json, List<(NodeRecord Record, string Gateway)>? nodes, DeviceRecord[]? devices)
    {
        var seen = new SortedDictionary<string, (int Nodes, int NodesOk, int Devices)>(StringComparer.Ordinal) { [gatewayId] = (0, 0, 0) };
        foreach (var (record, gateway) in nodes ?? [])
        {
            var (n, ok, d) = seen.GetValueOrDefault(gateway);
            seen[gateway] = (n + 1, ok + (record.Status == NodeStatus.Ok ? 1 : 0), d);
        }

        foreach (var device in devices ?? [])
        {
            if (device.Online && device.Gateway is { } gateway)
            {
                var (n, ok, d) = seen.GetValueOrDefault(gateway);
                seen[gateway] = (n, ok, d + 1);
            }
        }

        json.WriteStartArray("gateways");
        foreach (var (id, (n, ok, d)) in seen)
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteBoolean("here", id == gatewayId);
            json.WriteString("health", id == gatewayId ? "up" : d > 0 || ok > 0 ? "serving" : "unknown");
            json.WriteNumber("nodes", n);
            json.WriteNumber("nodesOk", ok);
            json.WriteNumber("devices", d);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteNodes(Utf8JsonWriter json, List<(NodeRecord Record, string Gateway)> nodes, IReadOnlyList<TopicRate> topics)
    {
        json.WriteStartArray();
        foreach (var (record, gateway) in nodes)
        {
            json.WriteStartObject();
            json.WriteString("id", record.Id);
            json.WriteString("status", record.Status.ToWire());
            json.WriteString("gateway", gateway);
            json.WriteString("callback", record.IsStreamNode ? "stream" : $"{record.Host}:{record.Port}");
            json.WriteString("created", record.Created);
            WriteSubscriptions(json, "services", record.Services);
            WriteSubscriptions(json, "slots", record.Slots);

            // A node's figures are those of its services' (topic, group) pairs: the bus records per group, not per member.
            double calls = 0, errors = 0, p50 = 0, p99 = 0;
            foreach (var service in record.Services)
            {
                foreach (var rate in topics)
                {
                    if (rate.Topic == service.Topic && rate.Group == (service.Group ?? ""))
                    {
                        calls += rate.CallsPerSecond;
                        errors += rate.ErrorsPerSecond;
                        p50 = Math.Max(p50, rate.P50);
                        p99 = Math.Max(p99, rate.P99);
                    }
                }
            }

            json.WriteNumber("callsPerSecond", calls);
            json.WriteNumber("errorsPerSecond", errors);
            json.WriteNumber("p50", p50);
            json.WriteNumber("p99", p99);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        static void WriteSubscriptions(Utf8JsonWriter json, string name, IReadOnlyList<NodeSubscription> list)
        {
            json.WriteStartArray(name);
            foreach (var s in list)
            {
                json.WriteStartObject();
                json.WriteString("topic", s.Topic);
                json.WriteString("group", s.Group);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }
    }

    private void WriteApps(Utf8JsonWriter json, JsonElement[] apps, DateTimeOffset now)
    {
        lock (_pokes)
        {
            WriteAppsLocked(json, apps, now);
        }
    }

    private void WriteAppsLocked(Utf8JsonWriter json, JsonElement[] apps, DateTimeOffset now)
    {
        var rows = new List<(string Agent, string App, JsonElement Info, double Rate)>(apps.Length);
        var current = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in apps)
        {
            var app = info.GetProperty("app").GetString() ?? "";
            var pokes = info.TryGetProperty("pokes", out var p) && p.TryGetInt64(out var n) ? n : 0;
            double rate = 0;
            if (_pokes.TryGetValue(app, out var before) && now > before.At)
            {
                rate = Math.Max(0, pokes - before.Pokes) / (now - before.At).TotalSeconds;
            }

            _pokes[app] = (pokes, now);
            current.Add(app);
            rows.Add((info.GetProperty("agent").GetString() ?? "", app, info, rate));
        }

        foreach (var gone in _pokes.Keys.Where(k => !current.Contains(k)).ToArray())
        {
            _pokes.Remove(gone);
        }

        rows.Sort(static (a, b) => string.CompareOrdinal(a.Agent, b.Agent) is var c and not 0 ? c : string.CompareOrdinal(a.App, b.App));
        json.WriteStartArray();
        foreach (var (agent, app, info, rate) in rows)
        {
            json.WriteStartObject();
            json.WriteString("app", app);
            json.WriteString("agent", agent);
            json.WriteString("version", info.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null);
            json.WriteNumber("watchers", info.TryGetProperty("subscribers", out var s) && s.ValueKind == JsonValueKind.Array ? s.GetArrayLength() : 0);
            json.WriteNumber("children", info.TryGetProperty("children", out var ch) && ch.ValueKind == JsonValueKind.Array ? ch.GetArrayLength() : 0);
            json.WriteNumber("pokes", info.TryGetProperty("pokes", out var p) && p.TryGetInt64(out var n) ? n : 0);
            json.WriteNumber("pokesPerSecond", rate);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteFlows(Utf8JsonWriter json, (FlowParticipantEntry[] Participants, (string Name, FlowNetworkState State)[] Graphs) flows)
    {
        json.WriteStartObject();
        json.WriteStartArray("participants");
        foreach (var p in flows.Participants.OrderBy(static p => p.Role, StringComparer.Ordinal).ThenBy(static p => p.Id, StringComparer.Ordinal))
        {
            json.WriteStartObject();
            json.WriteString("id", p.Id);
            json.WriteString("role", p.Role);
            json.WriteBoolean("online", !p.Expired);
            json.WriteString("lastSeen", p.LastSeen);
            try
            {
                using var doc = JsonDocument.Parse(p.Payload);
                var root = doc.RootElement;
                json.WriteString("component", root.TryGetProperty("component", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : "");
                WritePorts(json, "inports", root);
                WritePorts(json, "outports", root);
            }
            catch (JsonException)
            {
                json.WriteString("component", "");
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("graphs");
        foreach (var (name, state) in flows.Graphs.OrderBy(static g => g.Name, StringComparer.Ordinal))
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            json.WriteBoolean("started", state.Started);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();

        static void WritePorts(Utf8JsonWriter json, string name, JsonElement root)
        {
            json.WriteStartArray(name);
            if (root.TryGetProperty(name, out var ports) && ports.ValueKind == JsonValueKind.Array)
            {
                foreach (var port in ports.EnumerateArray())
                {
                    if (port.ValueKind == JsonValueKind.Object && port.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
                    {
                        json.WriteStringValue(id.GetString());
                    }
                }
            }

            json.WriteEndArray();
        }
    }

    private static void WriteActivities(Utf8JsonWriter json, ActivityRecord[] activities)
    {
        json.WriteStartArray();
        foreach (var a in activities.OrderBy(static a => a.Id))
        {
            json.WriteStartObject();
            json.WriteString("id", a.Id);
            string? name = null, version = null;
            if (a.Manifest is { } manifest)
            {
                try
                {
                    using var doc = JsonDocument.Parse(manifest);
                    name = doc.RootElement.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
                    version = doc.RootElement.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                }
                catch (JsonException)
                {
                }
            }

            json.WriteString("name", name);
            json.WriteString("version", version);
            json.WriteBoolean("enabled", a.Enabled);
            json.WriteStartArray("tags");
            foreach (var tag in a.Tags)
            {
                json.WriteStringValue(tag);
            }

            json.WriteEndArray();
            json.WriteStartArray("hosts");
            foreach (var h in a.Hosts)
            {
                json.WriteStartObject();
                json.WriteString("host", h.Host);
                json.WriteString("status", h.Status);
                json.WriteString("role", h.Role);
                if (h.Pid is { } pid)
                {
                    json.WriteNumber("pid", pid);
                }

                json.WriteNumber("restarts", h.Restarts);
                json.WriteString("changed", h.Changed);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteDevices(Utf8JsonWriter json, DeviceRecord[] devices)
    {
        json.WriteStartArray();
        foreach (var d in devices)
        {
            json.WriteStartObject();
            json.WriteString("provider", d.Provider);
            json.WriteBoolean("online", d.Online);
            json.WriteString("gateway", d.Gateway);
            if (d.LastSeen is { } seen)
            {
                json.WriteString("lastSeen", seen);
            }

            json.WriteString("version", d.Hello?.Version);
            json.WriteString("arch", d.Hello?.Arch);
            json.WriteString("hostname", d.Hello?.Hostname);
            json.WriteStartArray("services");
            foreach (var s in d.Services)
            {
                json.WriteStringValue($"{s.Publisher}/{s.Service}");
            }

            json.WriteEndArray();
            json.WriteStartArray("jobs");
            foreach (var j in d.Jobs)
            {
                json.WriteStartObject();
                json.WriteString("id", j.Id);
                json.WriteString("name", j.Name);
                json.WriteString("status", j.Status);
                json.WriteNumber("restarts", j.Restarts);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteTopics(Utf8JsonWriter json, IReadOnlyList<TopicRate> topics)
    {
        json.WriteStartArray("topics");
        foreach (var t in topics)
        {
            json.WriteStartObject();
            json.WriteString("topic", t.Topic);
            json.WriteString("group", t.Group);
            json.WriteNumber("callsPerSecond", t.CallsPerSecond);
            json.WriteNumber("errorsPerSecond", t.ErrorsPerSecond);
            json.WriteNumber("total", t.Total);
            json.WriteNumber("errors", t.Errors);
            json.WriteNumber("p50", t.P50);
            json.WriteNumber("p99", t.P99);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteErrors(Utf8JsonWriter json, ErrorTail errors)
    {
        json.WriteStartObject("errors");
        json.WriteNumber("total", errors.Total);
        json.WriteStartArray("tail");
        foreach (var e in errors.Lines())
        {
            json.WriteStartObject();
            json.WriteNumber("code", e.Code);
            json.WriteString("topic", e.Topic);
            json.WriteString("origin", e.Origin);
            if (e.Time is { } t)
            {
                json.WriteString("time", t);
            }

            json.WriteString("message", e.Message);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private readonly record struct Result<T>(T? Value, string? Error);
}
