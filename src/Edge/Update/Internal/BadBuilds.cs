using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Contracts.V1;

namespace Trellis.Edge.Update.Internal;

/// <summary>The builds this agent will not try again (WorkDir/update/bad.json): ones whose download did not match its
/// checksum and ones that failed to start. A build is its arch, version and SHA-256, so a fixed build served under the
/// same version is tried.</summary>
internal sealed class BadBuilds(string path)
{
    private readonly Lock _lock = new();

    public string Path { get; } = path;

    public bool Contains(BuildInfo build)
    {
        lock (_lock)
        {
            return Read().Any(entry => Matches(entry, build));
        }
    }

    public void Add(BuildInfo build, string reason, DateTimeOffset at)
    {
        lock (_lock)
        {
            var entries = Read();
            if (entries.Any(entry => Matches(entry, build)))
            {
                return;
            }

            // As a JsonNode: the generic Add<T> is not trimmable.
            entries.Add((JsonNode)new JsonObject
            {
                ["arch"] = build.Arch,
                ["version"] = build.Version,
                ["sha256"] = build.Sha256.ToLowerInvariant(),
                ["reason"] = reason,
                ["at"] = at.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            });
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            var temp = Path + ".tmp";
            File.WriteAllText(temp, entries.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.Move(temp, Path, overwrite: true);
        }
    }

    private static bool Matches(JsonNode? entry, BuildInfo build) =>
        entry is JsonObject o
        && Text(o, "arch") == build.Arch
        && Text(o, "version") == build.Version
        && string.Equals(Text(o, "sha256"), build.Sha256, StringComparison.OrdinalIgnoreCase);

    private static string? Text(JsonObject o, string name) =>
        o[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private JsonArray Read()
    {
        try
        {
            return File.Exists(Path) && JsonNode.Parse(File.ReadAllText(Path)) is JsonArray entries ? entries : [];
        }
        catch (JsonException)
        {
            // A damaged list is replaced on the next write rather than stopping updates for good.
            return [];
        }
    }
}
