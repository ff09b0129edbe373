using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Cli;

/// <summary>The CLI's profile file: named connection settings (<c>url</c>, <c>grpc-url</c>, <c>token</c>) and the current
/// profile, as <c>{"current": "prod", "profiles": {"prod": {"url": "…", "grpc-url": "…", "token": "…"}}}</c>. It lives at
/// <c>$TRELLIS_HOME/profiles.json</c> when TRELLIS_HOME is set (beside the activity home's own config.json), else at
/// <c>$XDG_CONFIG_HOME/trellis/config.json</c> (default <c>~/.config/trellis/config.json</c>); it is written readable by
/// its owner only, since it may hold tokens.</summary>
internal sealed class ProfileFile
{
    public static readonly string[] Keys = ["url", "grpc-url", "token"];

    private readonly JsonObject _root;

    private ProfileFile(string path, JsonObject root)
    {
        Path = path;
        _root = root;
    }

    public string Path { get; }

    public string? Current => _root["current"] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;

    public IEnumerable<string> Names => Profiles.Select(static p => p.Key);

    private JsonObject Profiles => _root["profiles"] as JsonObject ?? (JsonObject)(_root["profiles"] = new JsonObject());

    public static string DefaultPath(CliContext context)
    {
        if (context.Variable("TRELLIS_HOME") is { } home)
        {
            return System.IO.Path.Combine(home, "profiles.json");
        }

        var config = context.Variable("XDG_CONFIG_HOME")
            ?? System.IO.Path.Combine(context.Variable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return System.IO.Path.Combine(config, "trellis", "config.json");
    }

    /// <summary>Reads the file (an empty one when it does not exist); a file that is not a profile file is exit 2.</summary>
    public static ProfileFile Load(CliContext context)
    {
        var path = DefaultPath(context);
        if (!File.Exists(path))
        {
            return new ProfileFile(path, []);
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject root && root["profiles"] is null or JsonObject
                ? new ProfileFile(path, root)
                : throw new CliException(CliApp.Usage, $"{path} is not a profile file: expected {{\"current\": …, \"profiles\": {{…}}}}");
        }
        catch (JsonException e)
        {
            throw new CliException(CliApp.Usage, $"{path} is not valid JSON: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(CliApp.Usage, $"cannot read {path}: {e.Message}");
        }
    }

    public bool Has(string profile) => Profiles[profile] is JsonObject;

    /// <summary>A setting of a profile, or null.</summary>
    public string? Get(string profile, string key) =>
        Profiles[profile] is JsonObject p && p[key] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;

    public void Set(string profile, string key, string value)
    {
        if (Profiles[profile] is not JsonObject p)
        {
            Profiles[profile] = p = [];
        }

        p[key] = value;
        if (Current is null)
        {
            _root["current"] = profile;
        }
    }

    public void Use(string profile) => _root["current"] = profile;

    public void Save()
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        var temporary = Path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(_root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
        }

        File.Move(temporary, Path, overwrite: true);
    }

    /// <summary>A token as it may be shown: its last four characters at most.</summary>
    public static string Mask(string? token) =>
        token is null ? "" : token.Length >= 16 ? "****" + token[^4..] : "****";
}
