using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Cli;

/// <summary><c>trellis config set|get|list|use</c>: the profile file (<see cref="ProfileFile"/>). Tokens are never shown in
/// clear: <c>get token</c> and <c>list</c> mask them.</summary>
internal static class ConfigCommand
{
    public static Command Create() => new("config", "Connection profiles: url, grpc-url and token by name (flag > environment > profile > default)")
    {
        Set(), Get(), List(), Use(),
    };

    private static Argument<string> KeyArgument()
    {
        var key = new Argument<string>("key") { Description = "url, grpc-url or token" };
        key.AcceptOnlyFromAmong(ProfileFile.Keys);
        return key;
    }

    private static Command Set()
    {
        var key = KeyArgument();
        var value = new Argument<string>("value") { Description = "the value (an http:// or https:// URL for url and grpc-url)" };
        var command = new Command("set", "Set a setting of the profile (--profile, TRELLIS_PROFILE, the current one, else 'default'); the first profile becomes current") { key, value };
        command.SetAction((parse, _) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            var (name, text) = (parse.GetValue(key)!, parse.GetValue(value)!);
            if (name != "token" && !(Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            {
                throw new CliException(CliApp.Usage, $"{name} must be an http:// or https:// URL, not '{text}'");
            }

            var file = ProfileFile.Load(CliContext.Current);
            var profile = ConnectionOptions.SelectedProfile(parse, file) ?? "default";
            file.Set(profile, name, text);
            file.Save();
            await output.WriteLineAsync($"{name} set in profile {profile} ({file.Path})");
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Get()
    {
        var key = KeyArgument();
        var command = new Command("get", "Print a setting of the profile (a token masked)") { key };
        command.SetAction((parse, _) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            var file = ProfileFile.Load(CliContext.Current);
            var profile = ConnectionOptions.SelectedProfile(parse, file);
            var name = parse.GetValue(key)!;
            if (profile is null || !file.Has(profile))
            {
                throw new CliException(CliApp.Failed, profile is null ? $"no profile is selected in {file.Path}" : $"there is no profile '{profile}' in {file.Path}");
            }

            if (file.Get(profile, name) is not { } stored)
            {
                throw new CliException(CliApp.Failed, $"profile {profile} has no {name}");
            }

            await output.WriteLineAsync(name == "token" ? ProfileFile.Mask(stored) : stored);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var format = OutputFormat.Create(OutputFormat.Table);
        var command = new Command("list", "The profiles: name, whether current, url, grpc-url, token (masked)") { format };
        command.Aliases.Add("ls");
        command.SetAction((parse, _) => ClusterClient.RunAsync(parse, async (_, _) =>
        {
            var file = ProfileFile.Load(CliContext.Current);
            var selected = ConnectionOptions.SelectedProfile(parse, file);
            var list = new JsonArray();
            foreach (var name in file.Names)
            {
                list.Add(new JsonObject
                {
                    ["name"] = name,
                    ["current"] = name == selected,
                    ["url"] = file.Get(name, "url"),
                    ["grpc-url"] = file.Get(name, "grpc-url"),
                    ["token"] = file.Get(name, "token") is { } token ? ProfileFile.Mask(token) : null,
                });
            }

            await OutputFormat.WriteAsync(parse, format, JsonSerializer.SerializeToElement(list), static rows =>
            {
                var table = new List<string[]> { new[] { "CURRENT", "NAME", "URL", "GRPC URL", "TOKEN" } };
                table.AddRange(rows.EnumerateArray().Select(static p => new[]
                {
                    p.GetProperty("current").GetBoolean() ? "*" : "", Tables.Field(p, "name"), Tables.Field(p, "url"), Tables.Field(p, "grpc-url"), Tables.Field(p, "token"),
                }));
                return table;
            });
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Use()
    {
        var profile = new Argument<string>("profile") { Description = "the profile to make current" };
        var command = new Command("use", "Make a profile the current one") { profile };
        command.SetAction((parse, _) => ClusterClient.RunAsync(parse, async (output, _) =>
        {
            var file = ProfileFile.Load(CliContext.Current);
            var name = parse.GetValue(profile)!;
            if (!file.Has(name))
            {
                throw new CliException(CliApp.Failed, $"there is no profile '{name}' in {file.Path}; create it with trellis config set url URL --profile {name}");
            }

            file.Use(name);
            file.Save();
            await output.WriteLineAsync($"now using profile {name}");
            return CliApp.Ok;
        }));
        return command;
    }
}
