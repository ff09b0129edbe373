using System.CommandLine;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis participants</c>: the flow participants the cluster has discovered, as a table or JSON.</summary>
internal static class ParticipantsCommand
{
    public static Command Create()
    {
        var format = OutputFormat.Create(OutputFormat.Table);
        var command = new Command("participants", "List the flow participants discovered on fbp (AMQP participants and nodes with ports)") { format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, body) = await client.SendAsync(HttpMethod.Get, "/flows/participants", null, ct);
            if (await OutputFormat.WriteDataAsync(parse, format, body))
            {
                return CliApp.Ok;
            }

            var rows = new List<string[]> { new[] { "ID", "ROLE", "COMPONENT", "STATUS", "INPORTS", "OUTPORTS", "LAST SEEN" } };
            foreach (var p in body.ValueKind == JsonValueKind.Array ? body.EnumerateArray() : default)
            {
                rows.Add([Text(p, "id"), Text(p, "role"), Text(p, "component"), Text(p, "status"), Ports(p, "inports"), Ports(p, "outports"), Text(p, "lastSeen")]);
            }

            await Tables.WriteAsync(output, rows);

            return CliApp.Ok;
        }));
        return command;
    }

    private static string Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "-";

    private static string Ports(JsonElement e, string name) =>
        e.TryGetProperty(name, out var ports) && ports.ValueKind == JsonValueKind.Array && ports.GetArrayLength() > 0
            ? string.Join(",", ports.EnumerateArray().Select(p => Text(p, "id")))
            : "-";
}
