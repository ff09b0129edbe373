using System.CommandLine;
using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Flows.Activities;

namespace Trellis.Cli;

/// <summary><c>trellis activity init|create|list|install|uninstall|tag|enable|disable|start|connect</c>: Gesso's verbs on
/// a Trellis home (<c>--home</c>, TRELLIS_HOME, default ~/.trellis). Exit codes: 0 ok, 1 failed, 2 bad input, 3 the
/// cluster is unreachable.</summary>
internal static class ActivityCommand
{
    public static Option<string?> HomeOption() => new("--home")
    {
        Description = "the Trellis home (or TRELLIS_HOME; default ~/.trellis)",
        Recursive = true,
    };

    public static Command Create()
    {
        var home = HomeOption();
        var command = new Command("activity", "Create, install, enable and run activities (Gesso) on this host") { home };
        command.Subcommands.Add(Init(home));
        command.Subcommands.Add(CreateCommand(home));
        command.Subcommands.Add(ActivityListCommand.Create(home));
        command.Subcommands.Add(Install(home));
        command.Subcommands.Add(Uninstall(home));
        command.Subcommands.Add(Tag(home));
        command.Subcommands.Add(Enable(home));
        command.Subcommands.Add(Disable(home));
        command.Subcommands.Add(HostCommand.Create("start", "Run the host in the foreground for the given activity or all enabled ones (as 'trellis host')", withActivity: true, home));
        command.Subcommands.Add(ActivityConnectCommand.Create(home));
        return command;
    }

    public static ActivityStore Store(ParseResult parse, Option<string?> home) =>
        new(ActivityStore.ResolveHome(parse.GetValue(home)));

    /// <summary>Runs a verb through <see cref="ClusterClient.RunAsync"/>, the one place that turns failures into exit codes.</summary>
    public static Task<int> RunAsync(ParseResult parse, Func<TextWriter, Task<int>> work) =>
        ClusterClient.RunAsync(parse, (output, _) => work(output));

    private static Command Init(Option<string?> home)
    {
        var command = new Command("init", "Create the home (activities/ and config.json)");
        command.Aliases.Add("initialize");
        command.SetAction((parse, _) => RunAsync(parse, async output =>
        {
            var store = Store(parse, home);
            var created = store.Initialize();
            await output.WriteLineAsync(created ? $"created {store.Home}" : $"{store.Home} exists already");
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command CreateCommand(Option<string?> home)
    {
        var name = new Argument<string>("name") { Description = "name or @scope/name" };
        var lang = new Option<string>("--lang") { Description = "language of the starter program", DefaultValueFactory = _ => "python" };
        lang.AcceptOnlyFromAmong([.. ActivityTemplates.Languages]);
        var description = new Option<string?>("--description") { Description = "what it does" };
        var command = new Command("create", "Create a new activity directory with a manifest and a starter program") { name, lang, description };
        command.SetAction((parse, _) => RunAsync(parse, async output =>
        {
            var created = Store(parse, home).Create(parse.GetValue(name)!, parse.GetValue(lang)!, parse.GetValue(description));
            await output.WriteLineAsync($"created {created.Manifest.Name} {created.Manifest.Id}");
            await output.WriteLineAsync(created.Directory);
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Install(Option<string?> home)
    {
        var activity = new Argument<string>("activity") { Description = "uuid, name or @scope/name" };
        var command = new Command("install", "Install an activity from the repositories in config.json") { activity };
        command.SetAction((parse, ct) => RunAsync(parse, async output =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
            var installed = await new ActivityStore(ActivityStore.ResolveHome(parse.GetValue(home)), http).InstallAsync(parse.GetValue(activity)!, ct);
            await output.WriteLineAsync($"installed {installed.Manifest.Name} {installed.Manifest.Version} {installed.Manifest.Id}");
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Uninstall(Option<string?> home)
    {
        var activity = new Argument<string>("activity") { Description = "uuid, name or @scope/name" };
        var command = new Command("uninstall", "Delete an installed activity") { activity };
        command.Aliases.Add("rm");
        command.SetAction((parse, _) => RunAsync(parse, async output =>
        {
            var removed = Store(parse, home).Uninstall(parse.GetValue(activity)!);
            await output.WriteLineAsync($"uninstalled {removed.Manifest.Name} {removed.Manifest.Id}");
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Tag(Option<string?> home)
    {
        var activity = new Argument<string>("activity") { Description = "uuid, name or @scope/name" };
        var tags = new Argument<string[]>("tags") { Description = "tags to add", Arity = ArgumentArity.OneOrMore };
        var command = new Command("tag", "Tag an activity for this host (enable tag:TAG enables every activity with it)") { activity, tags };
        command.SetAction((parse, _) => RunAsync(parse, async output =>
        {
            var tagged = Store(parse, home).Tag(parse.GetValue(activity)!, parse.GetValue(tags)!);
            await output.WriteLineAsync($"{tagged.Manifest.Name}: {string.Join(", ", tagged.Tags)}");
            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Enable(Option<string?> home)
    {
        var activity = new Argument<string>("activity") { Description = "uuid, @scope/name, name or tag:TAG" };
        var command = new Command("enable", "Enable an activity on this host (installing it if needed), or every activity with a tag") { activity };
        command.SetAction((parse, ct) => RunAsync(parse, async output =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
            var enabled = await new ActivityStore(ActivityStore.ResolveHome(parse.GetValue(home)), http).EnableAsync(parse.GetValue(activity)!, ct);
            foreach (var a in enabled)
            {
                await output.WriteLineAsync($"enabled {a.Manifest.Name} {a.Manifest.Id}");
            }

            if (enabled.Count == 0)
            {
                await output.WriteLineAsync($"enabled {parse.GetValue(activity)} (no installed activity has the tag yet)");
            }

            return CliApp.Ok;
        }));
        return command;
    }

    private static Command Disable(Option<string?> home)
    {
        var activity = new Argument<string>("activity") { Description = "uuid, @scope/name, name or tag:TAG" };
        var command = new Command("disable", "Disable an activity (it stays installed)") { activity };
        command.SetAction((parse, _) => RunAsync(parse, async output =>
        {
            var selector = parse.GetValue(activity)!;
            var still = Store(parse, home).Disable(selector);
            await output.WriteLineAsync(still.Count == 0
                ? $"disabled {selector}"
                : $"disabled {selector}, but it is still enabled by {string.Join(", ", still)} (disable that rule or remove the tag)");
            return CliApp.Ok;
        }));
        return command;
    }

    internal static string Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()
            : "-";
}
