using System.Buffers;
using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Core.Nodes;

namespace Trellis.Storage.Nodes;

/// <summary>The stored form of a node's slots or services: a JSON array of <c>{topic, group, path, timeout}</c> (seconds).</summary>
internal static class NodeSubscriptionsJson
{
    public static string Write(IReadOnlyList<NodeSubscription> subscriptions)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            NodeSubscription.WriteArray(writer, subscriptions);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static IReadOnlyList<NodeSubscription> Read(string json, string nodeId, string column)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var result = new List<NodeSubscription>(document.RootElement.GetArrayLength());
            foreach (var item in document.RootElement.EnumerateArray())
            {
                var group = item.GetProperty("group");
                result.Add(new NodeSubscription(
                    item.GetProperty("topic").GetString()!,
                    group.ValueKind == JsonValueKind.Null ? null : group.GetString(),
                    item.GetProperty("path").GetString()!,
                    TimeSpan.FromSeconds(item.GetProperty("timeout").GetDouble())));
            }

            return result;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new TrellisException(ErrorKind.Internal, $"Node {nodeId} has unreadable {column} in gateway_nodes: {e.Message}", e);
        }
    }
}
