using System.Text.Json.Nodes;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>What the runtime says about itself (<c>runtime:runtime</c>) and the limits of its connections.</summary>
internal sealed class FbpRuntime(string id, string label, FbpAuth auth, int maxMessageBytes, TimeProvider clock)
{
    /// <summary>The protocol version spoken (fbp-protocol 0.7, as msgflo and noflo speak it).</summary>
    public const string ProtocolVersion = "0.7";

    /// <summary>"msgflo": Flowhub opens a graph only on a runtime of the graph's <c>environment.type</c>, and the graphs
    /// Trellis runs are msgflo graphs (<c># @runtime msgflo</c>) on msgflo's broker topology.</summary>
    public const string Type = "msgflo";

    /// <summary>What this runtime does: no component:setsource (participants are programs, not source sent over the
    /// wire), no network:persist (graphs are always persisted), no trace, no graph groups.</summary>
    public static readonly string[] Capabilities =
    [
        "protocol:runtime", "protocol:graph", "protocol:component", "protocol:network",
        "network:status", "network:data", "network:control", "component:getsource",
    ];

    public string Id { get; } = id;

    public string Label { get; } = label;

    public FbpAuth Auth { get; } = auth;

    public int MaxMessageBytes { get; } = maxMessageBytes;

    public TimeProvider Clock { get; } = clock;

    /// <summary>The sessions of this process, for sharing graph edits between them.</summary>
    public FbpHub Hub { get; } = new();

    /// <summary>The runtime message; a client without the secret sees no capabilities of its own (as the schema's
    /// capabilities/allCapabilities split intends).</summary>
    public JsonObject Describe(bool authorized) => new()
    {
        ["type"] = Type,
        ["version"] = ProtocolVersion,
        ["capabilities"] = authorized ? Strings(Capabilities) : new JsonArray(),
        ["allCapabilities"] = Strings(Capabilities),
        ["id"] = Id,
        ["label"] = Label,
        ["graph"] = Trellis.Flows.Networks.IFlowNetworks.DefaultGraph,
    };

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(static v => (JsonNode?)v)]);
}
