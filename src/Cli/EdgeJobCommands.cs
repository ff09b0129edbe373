using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Cli;

/// <summary><c>trellis edge ps|run|kill|stop|start|rm|log|joblist</c>: jobs on a remote device, each a command of the
/// device's local API (<c>/v1/jobs…</c>, <c>/v1/joblist/…</c>) sent through <c>POST /edge/devices/{p}/commands</c>.</summary>
internal static class EdgeJobCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Ps();
        yield return Run();
        foreach (var verb in new[] { "kill", "stop", "start", "rm" })
        {
            yield return Each(verb);
        }

        yield return Log();
        yield return JobList();
    }

    private static Option<string> ProviderOption() => new("--provider", "-p") { Description = "the device's provider id", Required = true };

    private static Command Ps()
    {
        var (format, provider) = (EdgeCommand.OutputOption(), ProviderOption());
        var command = new Command("ps", "The jobs on a device: ID, IN GROUP, NAME, START AT, STATUS") { provider, format };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = Client(parse);
            var jobs = await CallAsync(client, parse.GetValue(provider)!, "GET", "/v1/jobs", null, ct);
            if (!await OutputFormat.WriteDataAsync(parse, format, jobs))
            {
                await EdgeCommand.WriteJobsAsync(output, jobs);
            }

            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Run()
    {
        var provider = ProviderOption();
        var name = new Option<string?>("--name") { Description = "the job's name (unique on the device)" };
        var restart = new Option<int?>("--restart") { Description = "restart the job up to N times when it exits with an error" };
        var rm = new Option<bool>("--rm") { Description = "remove the job when it ends" };
        var group = new Option<string?>("--group") { Description = "run in this group (one job of a group at a time)" };
        var exe = new Argument<string[]>("command") { Description = "after --: the executable and its arguments", Arity = ArgumentArity.OneOrMore };
        var command = new Command("run", "Run a job on a device: trellis edge run -p PROVIDER [--name N] -- EXE ARGS...") { provider, name, restart, rm, group, exe };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            var body = new JsonObject { ["command"] = new JsonArray([.. parse.GetValue(exe)!.Select(static a => (JsonNode?)JsonValue.Create(a))]) };
            if (parse.GetValue(name) is { } n)
            {
                body["name"] = n;
            }

            if (parse.GetValue(restart) is { } r)
            {
                body["restart"] = r;
            }

            if (parse.GetValue(rm))
            {
                body["rm"] = true;
            }

            if (parse.GetValue(group) is { } g)
            {
                body["group"] = g;
            }

            using var client = Client(parse);
            var job = await CallAsync(client, parse.GetValue(provider)!, "POST", "/v1/jobs", body, ct);
            await output.WriteLineAsync(EdgeCommand.Text(job, "id") is var id && id != "-" ? id : job.GetRawText());
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Each(string verb)
    {
        var provider = ProviderOption();
        var names = new Argument<string[]>("jobs") { Description = "job ids or names", Arity = ArgumentArity.OneOrMore };
        var what = verb switch
        {
            "kill" => "Kill jobs on a device (SIGKILL)",
            "stop" => "Stop jobs on a device (SIGTERM, then SIGKILL)",
            "start" => "Start stopped jobs on a device again",
            _ => "Remove jobs from a device (stopping them first)",
        };
        var command = new Command(verb, what) { provider, names };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            using var client = Client(parse);
            var exit = CliApp.Ok;
            foreach (var job in parse.GetValue(names)!)
            {
                var path = $"/v1/jobs/{Uri.EscapeDataString(job)}";
                try
                {
                    await CallAsync(client, parse.GetValue(provider)!, verb == "rm" ? "DELETE" : "POST", verb == "rm" ? path : $"{path}/{verb}", null, ct);
                    await output.WriteLineAsync(job);
                }
                catch (CliException e) when (e.ExitCode == CliApp.Failed)
                {
                    // One job refused (unknown, not running) does not stop the others, as with kill(1).
                    await error.WriteLineAsync($"trellis: {job}: {e.Message}");
                    exit = CliApp.Failed;
                }
            }

            return exit;
        }));
        return command;
    }

    private static Command Log()
    {
        var provider = ProviderOption();
        var id = new Argument<string>("job") { Description = "the job's id or name" };
        var command = new Command("log", "Print a job's log from a device") { provider, id };
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            using var client = Client(parse);
            var log = await CallAsync(client, parse.GetValue(provider)!, "GET", $"/v1/jobs/{Uri.EscapeDataString(parse.GetValue(id)!)}/log", null, ct);
            await output.WriteAsync(TextOf(log, "log"));
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command JobList()
    {
        var provider = ProviderOption();
        var file = new Option<FileInfo?>("--file") { Description = "the job list file (save: default standard output)" };
        var tiny = new Option<bool>("--tiny") { Description = "only what is needed to run the jobs again" };
        var save = new Command("save", "Save a device's job list as YAML") { provider, file, tiny };
        save.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            using var client = Client(parse);
            var path = parse.GetValue(tiny) ? "/v1/joblist/save?tiny=true" : "/v1/joblist/save";
            var yaml = TextOf(await CallAsync(client, parse.GetValue(provider)!, "POST", path, null, ct), "yaml");
            if (parse.GetValue(file) is { } f)
            {
                try
                {
                    await File.WriteAllTextAsync(f.FullName, yaml, ct);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await error.WriteLineAsync($"trellis: cannot write {f}: {e.Message}");
                    return CliApp.Failed;
                }
            }
            else
            {
                await output.WriteAsync(yaml);
            }

            return CliApp.Ok;
        }));

        var loadProvider = ProviderOption();
        var loadFile = new Option<FileInfo>("--file") { Description = "the job list file (YAML)", Required = true };
        var load = new Command("load", "Load a job list (YAML) onto a device: its jobs are created and started") { loadProvider, loadFile };
        load.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            var f = parse.GetValue(loadFile)!;
            string yaml;
            try
            {
                yaml = await File.ReadAllTextAsync(f.FullName, ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"trellis: cannot read {f}: {e.Message}");
                return CliApp.Usage;
            }

            using var client = Client(parse);
            var result = await CallAsync(client, parse.GetValue(loadProvider)!, "POST", "/v1/joblist/load", JsonValue.Create(yaml), ct);
            if (result.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
            {
                await output.WriteLineAsync(result.ValueKind == JsonValueKind.String ? result.GetString() : result.GetRawText());
            }

            return CliApp.Ok;
        }));
        return new Command("joblist", "Save or load a device's job list") { save, load };
    }

    private static ClusterClient Client(ParseResult parse) =>
        ClusterClient.Create(parse, TimeSpan.FromSeconds(60));

    /// <summary>Runs <paramref name="method"/> <paramref name="path"/> on the device; its JSON answer, or exit 1 with its
    /// error when it refused.</summary>
    internal static async Task<JsonElement> CallAsync(ClusterClient client, string provider, string method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        var request = new JsonObject { ["method"] = method, ["path"] = path };
        if (body is not null)
        {
            request["body"] = body;
        }

        var (_, result) = await client.SendAsync(HttpMethod.Post, $"/edge/devices/{Uri.EscapeDataString(provider)}/commands", ClusterClient.Json(request.ToJsonString()), cancellationToken);
        var status = result.ValueKind == JsonValueKind.Object && result.TryGetProperty("status", out var s) && s.TryGetInt32(out var code) ? code : 0;
        var answer = result.ValueKind == JsonValueKind.Object && result.TryGetProperty("body", out var b) ? b : default;
        if (status is < 200 or >= 300)
        {
            throw new CliException(CliApp.Failed, $"device {provider} answered {status}: {ClusterClient.ErrorMessage(answer)}");
        }

        return answer;
    }

    /// <summary>Text the device answered: a JSON string as it is, or the string field <paramref name="field"/> of an object.</summary>
    private static string TextOf(JsonElement answer, string field)
    {
        var text = answer.ValueKind switch
        {
            JsonValueKind.String => answer.GetString()!,
            JsonValueKind.Object when answer.TryGetProperty(field, out var f) && f.ValueKind == JsonValueKind.String => f.GetString()!,
            JsonValueKind.Undefined or JsonValueKind.Null => "",
            _ => answer.GetRawText(),
        };
        return text.Length == 0 || text.EndsWith('\n') ? text : text + "\n";
    }
}
