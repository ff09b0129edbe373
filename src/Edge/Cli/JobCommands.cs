using System.CommandLine;
using System.Text.Json.Nodes;

namespace Trellis.Edge.Cli;

/// <summary>gshell's job verbs on the local agent: run, ps, kill, stop, start, rm, log and joblist save|load.</summary>
internal static class JobCommands
{
    public static void Add(RootCommand root)
    {
        root.Subcommands.Add(Run());
        root.Subcommands.Add(Ps());
        root.Subcommands.Add(Pattern("kill", "Kill jobs (SIGKILL) by id, name, group or name pattern", "kill", force: true));
        root.Subcommands.Add(Pattern("stop", "Stop jobs (SIGTERM, SIGKILL after a grace) by id, name, group or name pattern", "stop"));
        root.Subcommands.Add(Pattern("start", "Start stopped or ended jobs again", "start"));
        root.Subcommands.Add(Pattern("rm", "Remove jobs that are not running", null));
        root.Subcommands.Add(Log());
        root.Subcommands.Add(JobList());
    }

    private static Command Run()
    {
        var name = new Option<string?>("--name") { Description = "The job's name (default: the executable's name)" };
        var restart = new Option<int>("--restart") { Description = "Restart on a non-zero exit up to N times" };
        var rm = new Option<bool>("--rm") { Description = "Remove the job when it exits" };
        var group = new Option<string?>("--group") { Description = "Run in this group's process group" };
        var files = new Option<string[]>("--file") { Description = "A local file to put in the job's directory (repeatable)", AllowMultipleArgumentsPerToken = false };
        var command = new Argument<string[]>("command") { Description = "EXE [ARGS...] (after --)", Arity = ArgumentArity.OneOrMore };
        var run = new Command("run", "Run any executable as a job; prints its id") { name, restart, rm, group, files, command };
        run.SetAction(async (parse, ct) =>
        {
            var body = new JsonObject
            {
                ["command"] = new JsonArray([.. parse.GetValue(command)!.Select(static a => (JsonNode?)a)]),
                ["restart"] = parse.GetValue(restart),
                ["rm"] = parse.GetValue(rm),
            };
            if (parse.GetValue(name) is { Length: > 0 } n)
            {
                body["name"] = n;
            }

            if (parse.GetValue(group) is { Length: > 0 } g)
            {
                body["group"] = g;
            }

            if (parse.GetValue(files) is { Length: > 0 } paths)
            {
                var map = new JsonObject();
                foreach (var path in paths)
                {
                    if (!File.Exists(path))
                    {
                        await Console.Error.WriteLineAsync($"trellis-edge: --file {path}: no such file");
                        return EdgeCli.Usage;
                    }

                    map[Path.GetFileName(path)] = Convert.ToBase64String(await File.ReadAllBytesAsync(path, ct));
                }

                body["files"] = map;
            }

            return await EdgeCli.CallAsync(parse, HttpMethod.Post, "/v1/jobs", body, json =>
            {
                Console.WriteLine((string?)json?["id"]);
                if ((string?)json?["status"] is { } status && status != "running")
                {
                    Console.Error.WriteLine($"trellis-edge: the job is {status}");
                }
            }, ct);
        });
        return run;
    }

    private static Command Ps()
    {
        var names = new Argument<string[]>("jobs") { Description = "IDs, names, groups or name patterns (default: all)", Arity = ArgumentArity.ZeroOrMore };
        var ps = new Command("ps", "List jobs: ID, IN GROUP, NAME, START AT, STATUS") { names };
        ps.SetAction(async (parse, ct) =>
        {
            var rows = new List<JsonNode?>();
            var patterns = parse.GetValue(names) is { Length: > 0 } given ? given : [""];
            foreach (var pattern in patterns)
            {
                var path = pattern.Length == 0 ? "/v1/jobs" : "/v1/jobs?name=" + Uri.EscapeDataString(pattern);
                var code = await EdgeCli.CallAsync(parse, HttpMethod.Get, path, null, json => rows.AddRange(json?.AsArray().Select(static r => r?.DeepClone()) ?? []), ct);
                if (code != EdgeCli.Ok)
                {
                    return code;
                }
            }

            Console.WriteLine($"{"ID",-14}{"IN GROUP",-14}{"NAME",-20}{"START AT",-22}STATUS");
            foreach (var row in rows.DistinctBy(static r => (string?)r?["id"]))
            {
                var start = (string?)row?["startAt"] is { } at ? DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture).ToLocalTime().ToString("yyyy/MM/dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) : "-";
                var restarts = (int?)row?["restarts"] ?? 0;
                var status = (string?)row?["status"] + (restarts > 0 ? $" ({restarts} restarts)" : "");
                var group = (string?)row?["group"] is { Length: > 0 } g ? g : "-";
                Console.WriteLine($"{(string?)row?["id"],-14}{group,-14}{(string?)row?["name"],-20}{start,-22}{status}");
            }

            return EdgeCli.Ok;
        });
        return ps;
    }

    private static Command Pattern(string verb, string description, string? action, bool force = false)
    {
        var names = new Argument<string[]>("jobs") { Description = "IDs, names, groups or name patterns ('*' wildcards)", Arity = ArgumentArity.OneOrMore };
        var forceOption = new Option<bool>("-f", "--force") { Description = "Also kill the job's wrapper shell" };
        var command = new Command(verb, description) { names };
        if (force)
        {
            command.Options.Add(forceOption);
        }

        command.SetAction(async (parse, ct) =>
        {
            var result = EdgeCli.Ok;
            foreach (var pattern in parse.GetValue(names)!)
            {
                var path = "/v1/jobs/" + Uri.EscapeDataString(pattern) + (action is null ? "" : "/" + action);
                if (force && parse.GetValue(forceOption))
                {
                    path += "?force=true";
                }

                var code = await EdgeCli.CallAsync(parse, action is null ? HttpMethod.Delete : HttpMethod.Post, path, null, json =>
                {
                    if (json is JsonArray rows)
                    {
                        foreach (var row in rows)
                        {
                            Console.WriteLine($"{(string?)row?["id"]} {(string?)row?["name"]} {(string?)row?["status"]}");
                        }
                    }
                    else if (json?["removed"] is JsonArray removed)
                    {
                        foreach (var id in removed)
                        {
                            Console.WriteLine($"{(string?)id} removed");
                        }
                    }
                }, ct);
                result = Math.Max(result, code);
            }

            return result;
        });
        return command;
    }

    private static Command Log()
    {
        var follow = new Option<bool>("-f", "--follow") { Description = "Follow the log until the job ends" };
        var id = new Argument<string>("job") { Description = "The job's id or name" };
        var log = new Command("log", "Print a job's output (stdout and stderr)") { follow, id };
        log.SetAction(async (parse, ct) =>
        {
            var path = "/v1/jobs/" + Uri.EscapeDataString(parse.GetValue(id)!) + "/log";
            if (!parse.GetValue(follow))
            {
                return await EdgeCli.CallTextAsync(parse, HttpMethod.Get, path, null, Console.Write, ct);
            }

            using var client = EdgeCli.Client(parse);
            try
            {
                using var response = await client.OpenStreamAsync(path + "?follow=true", ct);
                if (!response.IsSuccessStatusCode)
                {
                    await Console.Error.WriteLineAsync($"trellis-edge: {await response.Content.ReadAsStringAsync(ct)} ({(int)response.StatusCode})");
                    return EdgeCli.Refused;
                }

                await using var stream = await response.Content.ReadAsStreamAsync(ct);
                await using var stdout = Console.OpenStandardOutput();
                await stream.CopyToAsync(stdout, ct);
                return EdgeCli.Ok;
            }
            catch (HttpRequestException e)
            {
                await Console.Error.WriteLineAsync($"trellis-edge: no agent answers on {client.SocketPath} ({e.Message})");
                return EdgeCli.Unreachable;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return EdgeCli.Ok;
            }
        });
        return log;
    }

    private static Command JobList()
    {
        var file = new Option<string>("--file") { Description = "The joblist file", DefaultValueFactory = static _ => "default.joblist.yaml" };
        var tiny = new Option<bool>("--tiny") { Description = "Leave the jobs' files out" };
        var verb = new Argument<string>("action") { Description = "save or load" };
        verb.AcceptOnlyFromAmong("save", "load");
        var joblist = new Command("joblist", "Save every job to a YAML file, or load (re-create and start) the jobs of one") { file, tiny, verb };
        joblist.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(file)!;
            if (parse.GetValue(verb) == "save")
            {
                string? yaml = null;
                var code = await EdgeCli.CallTextAsync(parse, HttpMethod.Post, "/v1/joblist/save" + (parse.GetValue(tiny) ? "?tiny=true" : ""), null, text => yaml = text, ct);
                if (code == EdgeCli.Ok)
                {
                    await File.WriteAllTextAsync(path, yaml, ct);
                    Console.WriteLine($"saved to {path}");
                }

                return code;
            }

            if (!File.Exists(path))
            {
                await Console.Error.WriteLineAsync($"trellis-edge: --file {path}: no such file");
                return EdgeCli.Usage;
            }

            // The YAML travels as a JSON string, which the load route accepts beside raw YAML.
            var body = JsonValue.Create(await File.ReadAllTextAsync(path, ct));
            return await EdgeCli.CallAsync(parse, HttpMethod.Post, "/v1/joblist/load", body, json =>
            {
                foreach (var job in json?["loaded"]?.AsArray() ?? [])
                {
                    Console.WriteLine($"{(string?)job?["id"]} {(string?)job?["name"]} {(string?)job?["status"]}");
                }
            }, ct);
        });
        return joblist;
    }
}
