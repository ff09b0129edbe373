using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;

namespace Trellis.Grains.Flows.Internal;

/// <summary>How a <see cref="GraphChange"/> travels to its graph's grain.</summary>
internal static class FlowJson
{
    public static string WriteChange(GraphChange change) => JsonSerializer.Serialize(change);

    public static GraphChange ReadChange(string json) =>
        JsonSerializer.Deserialize<GraphChange>(json) ?? throw TrellisException.Invalid("the graph change is empty");
}
