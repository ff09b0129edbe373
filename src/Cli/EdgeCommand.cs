using System.CommandLine;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis edge list|show|token|services|builds|build</c>: the edge devices of the cluster, their tokens, their
/// WAN services and the agent builds (the /edge API of a gateway); the remote job verbs are in <see cref="EdgeJobCommands"/>.</summary>
internal static class EdgeCommand
{
    public static Command Create()
    {
        var command = new Command("edge", "Edge devices: list, show, tokens, WAN services, agent builds and remote jobs")
        {
            List(), Show(), Token(), Services(), Builds(), Build(),
        };
        foreach (var job in EdgeJobCommands.Create())
        {
            command.Subcommands.Add(job);
        }

        return command;
    }

    public static Option<string> OutputOption() => OutputFormat.Create(OutputFormat.Table);

    private static Command List()
    {
        var format = OutputOption();
        var command = new Command("list", "The devices the cluster knows: status, version, arch, host name, services, last seen") { format };
        command.Aliases.Add("ls");
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, body) = await client.SendAsync(HttpMethod.Get, "/edge/devices", null, ct);
            if (await OutputFormat.WriteDataAsync(parse, format, body))
            {
                return CliApp.Ok;
            }

            var rows = new List<string[]> { new[] { "PROVIDER", "STATUS", "VERSION", "ARCH", "HOSTNAME", "SERVICES", "TOKEN", "LAST SEEN" } };
            foreach (var d in Items(body))
            {
                rows.Add([Text(d, "provider"), Text(d, "status"), Text(d, "version"), Text(d, "arch"), Text(d, "hostname"),
                    Services(d), d.TryGetProperty("hasToken", out var t) && t.ValueKind == JsonValueKind.True ? "yes" : "no", Text(d, "lastSeen")]);
            }

            await WriteTableAsync(output, rows);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Show()
    {
        var format = OutputOption();
        var provider = new Argument<string>("provider") { Description = "the device's provider id" };
        var command = new Command("show", "One device: its status, agent, services, jobs and grant") { provider, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, d) = await client.SendAsync(HttpMethod.Get, $"/edge/devices/{Uri.EscapeDataString(parse.GetValue(provider)!)}", null, ct);
            if (await OutputFormat.WriteDataAsync(parse, format, d))
            {
                return CliApp.Ok;
            }

            foreach (var field in new[] { "provider", "status", "version", "arch", "hostname", "connectedAt", "lastSeen" })
            {
                await output.WriteLineAsync($"{field + ":",-13}{Text(d, field)}");
            }

            await output.WriteLineAsync($"{"token:",-13}{(d.TryGetProperty("hasToken", out var t) && t.ValueKind == JsonValueKind.True ? "issued" : "none")}");
            await output.WriteLineAsync($"{"autoUpdate:",-13}{(d.TryGetProperty("autoUpdate", out var a) && a.ValueKind == JsonValueKind.True ? "yes" : "no")}");
            await output.WriteLineAsync($"{"grant:",-13}{Strings(d, "grant")}");
            await output.WriteLineAsync($"{"services:",-13}{Services(d)}");
            await output.WriteLineAsync("jobs:");
            await WriteJobsAsync(output, d.TryGetProperty("jobs", out var jobs) ? jobs : default);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Token()
    {
        var format = OutputOption();
        var provider = new Argument<string>("provider") { Description = "the device's provider id" };
        var grant = new Option<string[]>("--grant") { Description = "a topic glob the device may call or signal ('*' any run of characters); repeat for more", AllowMultipleArgumentsPerToken = false };
        var issue = new Command("issue", "Issue a new token for the device (replacing any earlier one); the token is shown only now") { provider, grant, format };
        issue.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var body = JsonSerializer.Serialize(new Dictionary<string, string[]> { ["grant"] = parse.GetValue(grant) ?? [] });
            var (_, issued) = await client.SendAsync(HttpMethod.Post, $"/edge/devices/{Uri.EscapeDataString(parse.GetValue(provider)!)}/token", ClusterClient.Json(body), ct);
            if (await OutputFormat.WriteDataAsync(parse, format, issued))
            {
                return CliApp.Ok;
            }

            await output.WriteLineAsync(Text(issued, "token"));
            await parse.InvocationConfiguration.Error.WriteLineAsync(
                $"trellis: token issued for {Text(issued, "provider")} (grant: {Strings(issued, "grant")}); it is not shown again: give it to the agent (trellis-edge --token, or its token file)");
            return CliApp.Ok;
        }));
        var revokeProvider = new Argument<string>("provider") { Description = "the device's provider id" };
        var revoke = new Command("revoke", "Revoke the device's token: its link is closed and it cannot reconnect until a new token is issued") { revokeProvider };
        revoke.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var name = parse.GetValue(revokeProvider)!;
            await client.SendAsync(HttpMethod.Delete, $"/edge/devices/{Uri.EscapeDataString(name)}/token", null, ct);
            await output.WriteLineAsync($"revoked the token of {name}");
            return CliApp.Ok;
        }));
        return new Command("token", "Issue or revoke a device's token") { issue, revoke };
    }

    private static Command Services()
    {
        var format = OutputOption();
        var publisher = new Option<string?>("--publisher", "-p") { Description = "publisher name or pattern ('*' any run of characters)" };
        var service = new Option<string?>("--service", "-s") { Description = "service name or pattern" };
        var command = new Command("services", "The services online devices publish to the cluster (the WAN scope of discovery)") { publisher, service, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var query = $"?publisher={Uri.EscapeDataString(parse.GetValue(publisher) ?? "")}&service={Uri.EscapeDataString(parse.GetValue(service) ?? "")}";
            var (_, body) = await client.SendAsync(HttpMethod.Get, "/edge/services" + query, null, ct);
            if (await OutputFormat.WriteDataAsync(parse, format, body))
            {
                return CliApp.Ok;
            }

            var rows = new List<string[]> { new[] { "PUBLISHER", "SERVICE", "PROVIDER", "TOPIC" } };
            rows.AddRange(Items(body).Select(static s => new[] { Text(s, "publisher"), Text(s, "service"), Text(s, "provider"), Text(s, "topic") }));
            await WriteTableAsync(output, rows);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Builds()
    {
        var format = OutputOption();
        var command = new Command("builds", "The agent builds the gateway serves for auto-update") { format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = ClusterClient.Create(parse);
            var (_, body) = await client.SendAsync(HttpMethod.Get, "/edge/builds", null, ct);
            if (await OutputFormat.WriteDataAsync(parse, format, body))
            {
                return CliApp.Ok;
            }

            var rows = new List<string[]> { new[] { "ARCH", "VERSION", "SIZE", "SHA256" } };
            rows.AddRange(Items(body).Select(static b => new[]
            {
                Text(b, "arch"), Text(b, "version"), b.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture) : "-", Text(b, "sha256"),
            }));
            await WriteTableAsync(output, rows);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "the runtime identifier the build is for: linux-arm64, linux-x64, …", Required = true };
        var version = new Option<string>("--version") { Description = "the build's version, such as 1.4.0", Required = true };
        var file = new Argument<FileInfo>("file") { Description = "the trellis-edge binary" };
        var upload = new Command("upload", "Upload an agent build; agents of that architecture with auto-update take the newest version") { arch, version, file };
        upload.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            var path = parse.GetValue(file)!;
            string sha;
            try
            {
                await using (var read = path.OpenRead())
                {
                    sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, ct));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"trellis: cannot read {path}: {e.Message}");
                return CliApp.Usage;
            }

            using var client = ClusterClient.Create(parse, TimeSpan.FromMinutes(10));
            await using var stream = path.OpenRead();
            var content = new StreamContent(stream);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            var query = $"?version={Uri.EscapeDataString(parse.GetValue(version)!)}&sha256={sha}";
            var (_, build) = await client.SendAsync(HttpMethod.Put, $"/edge/builds/{Uri.EscapeDataString(parse.GetValue(arch)!)}{query}", content, ct);
            await output.WriteLineAsync($"uploaded {Text(build, "arch")} {Text(build, "version")} sha256 {Text(build, "sha256")} ({Text(build, "size")} bytes)");
            return CliApp.Ok;
        }));
        return new Command("build", "Manage agent builds") { upload };
    }

    // ---------------------------------------------------------------- shared with the job verbs

    internal static IEnumerable<JsonElement> Items(JsonElement body) => body.ValueKind == JsonValueKind.Array ? body.EnumerateArray() : [];

    internal static string Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v)
            ? v.ValueKind switch
            {
                JsonValueKind.String => v.GetString() is { Length: > 0 } s ? s : "-",
                JsonValueKind.Number => v.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => "-",
            }
            : "-";

    private static string Strings(JsonElement e, string name) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
            ? string.Join(", ", a.EnumerateArray().Select(static s => s.ToString()))
            : "-";

    private static string Services(JsonElement d) =>
        d.TryGetProperty("services", out var s) && s.ValueKind == JsonValueKind.Array && s.GetArrayLength() > 0
            ? string.Join(",", s.EnumerateArray().Select(static x => $"{Text(x, "publisher")}/{Text(x, "service")}"))
            : "-";

    /// <summary>A job table as <c>trellis-edge ps</c> prints it: ID, IN GROUP, NAME, START AT, STATUS.</summary>
    internal static Task WriteJobsAsync(TextWriter output, JsonElement jobs)
    {
        var rows = new List<string[]> { new[] { "ID", "IN GROUP", "NAME", "START AT", "STATUS" } };
        rows.AddRange(Items(jobs).Select(static j => new[] { Text(j, "id"), Text(j, "group"), Text(j, "name"), Text(j, "startAt"), Text(j, "status") }));
        return WriteTableAsync(output, rows);
    }

    internal static Task WriteTableAsync(TextWriter output, List<string[]> rows) => Tables.WriteAsync(output, rows);
}
