using System.Text.Json.Nodes;

namespace Trellis.Flows.Activities;

/// <summary>The discovery message a host sends on <c>fbp</c> for an enabled activity, exactly as msgflo-nodejs sends
/// one for a participant: <c>{"protocol":"discovery","command":"participant","payload":{id, role, component, label,
/// icon, inports, outports}}</c>, each port <c>{id, type:"any", queue:"&lt;role&gt;.&lt;PORT&gt;", hidden:false}</c>.</summary>
public static class ActivityDiscovery
{
    public const string Queue = "fbp";

    /// <summary>The participant id: <c>&lt;role&gt;-&lt;host&gt;</c>, so each host's instance is its own participant.</summary>
    public static string ParticipantId(ActivityManifest manifest, string hostId) => $"{manifest.Role}-{hostId}";

    public static JsonObject Message(ActivityManifest manifest, string hostId) => new()
    {
        ["protocol"] = "discovery",
        ["command"] = "participant",
        ["payload"] = new JsonObject
        {
            ["component"] = manifest.Name,
            ["label"] = manifest.Description ?? manifest.Name,
            ["icon"] = manifest.Icon ?? "cog",
            ["inports"] = Ports(manifest, manifest.Inports),
            ["outports"] = Ports(manifest, manifest.Outports),
            ["role"] = manifest.Role,
            ["id"] = ParticipantId(manifest, hostId),
        },
    };

    private static JsonArray Ports(ActivityManifest manifest, IReadOnlyList<string> ports)
    {
        var array = new JsonArray();
        foreach (var port in ports)
        {
            array.Add(new JsonObject
            {
                ["id"] = port,
                ["type"] = "any",
                ["hidden"] = false,
                ["queue"] = manifest.QueueOf(port),
            });
        }

        return array;
    }
}
