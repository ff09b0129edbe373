using System.CommandLine;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis participants</c>: the flow participants the cluster has discovered, as a table or JSON.</summary>
internal static class ParticipantsCommand
{
    public static Command Create()
    {
        var url = ClusterClient.UrlOption();
        var token = ClusterClient.TokenOption();
        var format = new Option<string>("--output", "-o") { Description = "table or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var command = new Command("participants", "List the flow participants discovered on fbp (AMQP participants and nodes with ports)") { format, url, token };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse, url, token);
            var (_, body) = await client.SendAsync(HttpMethod.Get, "/flows/participants", null, ct);
            if (parse.GetValue(format) == "json")
            {
                await output.WriteLineAsync(body.GetRawText());
                return CliApp.Ok;
            }

            var rows = new List<string[]> { new[] { "ID", "ROLE", "COMPONENT", "STATUS", "INPORTS", "OUTPORTS", "LAST SEEN" } };
            foreach (var p in body.ValueKind == JsonValueKind.Array ? body.EnumerateArray() : default)
            {
                rows.Add([Text(p, "id"), Text(p, "role"), Text(p, "component"), Text(p, "status"), Ports(p, "inports"), Ports(p, "outports"), Text(p, "lastSeen")]);
            }

            var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
            foreach (var row in rows)
            {
                await output.WriteLineAsync(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
            }

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
