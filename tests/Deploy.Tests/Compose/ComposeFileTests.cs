using System.Text.Json.Nodes;
using Trellis.Deploy.Tests.Internal;

namespace Trellis.Deploy.Tests.Compose;

/// <summary>deploy/compose/docker-compose.yml parses, sets only settings README.md documents, and runs what
/// deploy/Dockerfile builds.</summary>
public sealed class ComposeFileTests
{
    private static readonly string ComposeFile = Repository.PathOf("deploy", "compose", "docker-compose.yml");

    [Fact]
    public async Task TheFileParsesAsYamlWithServices()
    {
        var services = await ServicesAsync();

        Assert.Contains("silo1", services.Select(s => s.Name));
        Assert.Contains("gateway", services.Select(s => s.Name));
    }

    [Fact]
    public async Task EveryTrellisVariableAndArgumentIsADocumentedSetting()
    {
        var unknown = new List<string>();
        var seen = 0;
        foreach (var (name, service) in await ServicesAsync())
        {
            foreach (var variable in Environment(service))
            {
                if (SettingsTable.KeyOfVariable(variable) is { } key)
                {
                    seen++;
                    if (!SettingsTable.Exists(key))
                    {
                        unknown.Add($"{name}: {variable} ({key})");
                    }
                }
            }

            foreach (var arg in Strings(service["command"]))
            {
                if (SettingsTable.KeyOfArgument(arg) is { } key)
                {
                    seen++;
                    if (!SettingsTable.Exists(key))
                    {
                        unknown.Add($"{name}: {arg} ({key})");
                    }
                }
            }
        }

        foreach (var variable in Dockerfile.Load().Variables)
        {
            if (SettingsTable.KeyOfVariable(variable) is { } key && !SettingsTable.Exists(key))
            {
                unknown.Add($"deploy/Dockerfile: ENV {variable} ({key})");
            }
        }

        Assert.True(seen > 0, "the compose file sets no Trellis setting: the check would pass on anything");
        Assert.True(unknown.Count == 0, "settings missing from README.md's Configuration table:\n" + string.Join('\n', unknown));
    }

    [Fact]
    public async Task ServicesBuildTheDockerfileAndRunItsAssemblies()
    {
        var dockerfile = Dockerfile.Load();
        var services = await ServicesAsync();
        var names = services.Select(s => s.Name).ToHashSet();
        var problems = new List<string>();
        var built = 0;
        foreach (var (name, service) in services)
        {
            foreach (var dependency in service["depends_on"] switch
            {
                JsonObject map => map.Select(p => p.Key),
                JsonArray list => list.Select(d => (string)d!),
                _ => [],
            })
            {
                if (!names.Contains(dependency))
                {
                    problems.Add($"{name}: depends_on {dependency}, which is no service");
                }
            }

            if (service["build"] is not JsonObject build)
            {
                if (service["image"] is not JsonValue)
                {
                    problems.Add($"{name}: neither build nor image");
                }

                continue;
            }

            built++;
            var context = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ComposeFile)!, (string?)build["context"] ?? "."));
            var file = Path.Combine(context, (string?)build["dockerfile"] ?? "Dockerfile");
            if (Path.GetFullPath(file) != Path.GetFullPath(Dockerfile.PathOf))
            {
                problems.Add($"{name}: builds {file}, not deploy/Dockerfile");
            }

            if ((string?)build["target"] is { } target && !dockerfile.Stages.Contains(target))
            {
                problems.Add($"{name}: build target {target} is no stage of deploy/Dockerfile ({string.Join(", ", dockerfile.Stages)})");
            }

            var command = Strings(service["command"]).FirstOrDefault();
            if (command is not null && !dockerfile.Assemblies.Contains(command))
            {
                problems.Add($"{name}: runs {command}, which deploy/Dockerfile does not publish ({string.Join(", ", dockerfile.Assemblies)})");
            }
        }

        Assert.True(built > 0, "no service builds deploy/Dockerfile");
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    private static async Task<List<(string Name, JsonObject Service)>> ServicesAsync()
    {
        var docs = await Tools.ParseYamlAsync(ComposeFile);
        var doc = Assert.IsType<JsonObject>(Assert.Single(docs));
        var services = Assert.IsType<JsonObject>(doc["services"]);
        return [.. services.Select(p => (p.Key, Assert.IsType<JsonObject>(p.Value)))];
    }

    /// <summary>The variable names of a service's environment, a map or a list of NAME=value.</summary>
    private static IEnumerable<string> Environment(JsonObject service) => service["environment"] switch
    {
        JsonObject map => map.Select(p => p.Key),
        JsonArray list => list.Select(e => ((string)e!).Split('=')[0]),
        _ => [],
    };

    private static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonArray list => list.Select(e => e!.ToString()),
        JsonValue value => ((string)value!).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        _ => [],
    };
}
