using Trellis.Core.Errors;
using Trellis.Flows.Activities.Internal;

namespace Trellis.Flows.Activities;

/// <summary>A Trellis home (<c>--home</c>, env <c>TRELLIS_HOME</c>, default <c>~/.trellis</c>): installed activities in
/// <c>activities/&lt;uuid&gt;/</c> and <c>config.json</c> (repositories, the enabled set, host tags). Not safe for
/// concurrent writers: one CLI or host edits a home at a time.</summary>
public sealed class ActivityStore(string home, HttpClient? http = null)
{
    public const string HomeVariable = "TRELLIS_HOME";

    public string Home { get; } = Path.GetFullPath(home);

    public string ActivitiesDirectory => Path.Combine(Home, "activities");

    public string ConfigPath => Path.Combine(Home, "config.json");

    public bool Exists => File.Exists(ConfigPath) && Directory.Exists(ActivitiesDirectory);

    /// <summary><paramref name="explicitHome"/>, else <c>TRELLIS_HOME</c>, else <c>~/.trellis</c>.</summary>
    public static string ResolveHome(string? explicitHome) =>
        !string.IsNullOrEmpty(explicitHome) ? explicitHome
        : Environment.GetEnvironmentVariable(HomeVariable) is { Length: > 0 } fromEnv ? fromEnv
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".trellis");

    /// <summary>Creates the home; returns false when it was there already (nothing is overwritten).</summary>
    public bool Initialize()
    {
        var existed = Exists;
        Directory.CreateDirectory(ActivitiesDirectory);
        if (!File.Exists(ConfigPath))
        {
            File.WriteAllText(ConfigPath, new ActivityStoreConfig().ToJsonString());
        }

        return !existed;
    }

    public ActivityStoreConfig LoadConfig()
    {
        RequireHome();
        return ActivityStoreConfig.Parse(File.ReadAllText(ConfigPath), ConfigPath);
    }

    public void SaveConfig(ActivityStoreConfig config)
    {
        RequireHome();
        var temp = ConfigPath + ".tmp";
        File.WriteAllText(temp, config.ToJsonString());
        File.Move(temp, ConfigPath, overwrite: true);
    }

    /// <summary>The installed activities, by name; <paramref name="problems"/> gets one line per directory that is not a valid activity.</summary>
    public IReadOnlyList<InstalledActivity> List(List<string>? problems = null)
    {
        var config = LoadConfig();
        var list = new List<InstalledActivity>();
        foreach (var dir in Directory.EnumerateDirectories(ActivitiesDirectory))
        {
            try
            {
                var manifest = ActivityManifest.Load(dir);
                if (!string.Equals(Path.GetFileName(dir), manifest.Id.ToString(), StringComparison.OrdinalIgnoreCase))
                {
                    problems?.Add($"{dir}: the directory is not named by the manifest's id {manifest.Id}");
                    continue;
                }

                list.Add(Describe(manifest, dir, config));
            }
            catch (TrellisException e)
            {
                problems?.Add(e.Message);
            }
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Manifest.Name, b.Manifest.Name));
        return list;
    }

    /// <summary>The installed activity a selector names (its uuid, <c>@scope/name</c>, name or role).</summary>
    public InstalledActivity Find(string selector) =>
        TryFind(selector) ?? throw new TrellisException(ErrorKind.NotFound, $"activity '{selector}' is not installed in {Home}");

    public InstalledActivity? TryFind(string selector)
    {
        var matches = List().Where(a => Matches(a.Manifest, selector)).ToList();
        return matches.Count switch
        {
            0 => null,
            1 => matches[0],
            _ => throw TrellisException.Invalid($"'{selector}' names {matches.Count} activities ({string.Join(", ", matches.Select(static m => m.Manifest.Id))}); use the id"),
        };
    }

    /// <summary>The installed activities that are enabled (by id or by a <c>tag:TAG</c> rule).</summary>
    public IReadOnlyList<InstalledActivity> ListEnabled() => [.. List().Where(static a => a.Enabled)];

    /// <summary>A new activity directory with a manifest and a starter program in <paramref name="language"/>.</summary>
    public InstalledActivity Create(string name, string language, string? description = null)
    {
        if (!ActivityManifest.IsValidName(name))
        {
            throw TrellisException.Invalid($"NAME '{name}' is not a valid activity name (lower case letters, digits, '.', '_', '-', optionally '@scope/name')");
        }

        var (entry, files) = ActivityTemplates.For(language);
        RequireHome();
        if (List().Any(a => a.Manifest.Name == name))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"an activity named '{name}' is installed already");
        }

        var manifest = new ActivityManifest(Guid.NewGuid(), name, "0.1.0", description, [language], entry, ["in"], ["out"]);
        var dir = Path.Combine(ActivitiesDirectory, manifest.Id.ToString());
        Directory.CreateDirectory(dir);
        foreach (var (file, text) in files)
        {
            var path = Path.Combine(dir, file);
            File.WriteAllText(path, text);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }
        }

        manifest.Save(dir);
        return Describe(manifest, dir, LoadConfig());
    }

    /// <summary>Copies an activity directory into the home (validating its manifest first).</summary>
    public InstalledActivity AddFromDirectory(string source)
    {
        var manifest = ActivityManifest.Load(source);
        var dir = PrepareTarget(manifest.Id, manifest.Name);
        ActivityFiles.CopyDirectory(source, dir);
        return Describe(manifest, dir, LoadConfig());
    }

    /// <summary>Installs from the repositories in <c>config.json</c>, in their order; the highest version of the first
    /// repository that has it wins. An activity installed already is returned as it is.</summary>
    public async Task<InstalledActivity> InstallAsync(string selector, CancellationToken cancellationToken)
    {
        if (TryFind(selector) is { } existing)
        {
            return existing;
        }

        var config = LoadConfig();
        if (config.Repositories.Count == 0)
        {
            throw new TrellisException(ErrorKind.FailedPrecondition, $"no repositories in {ConfigPath}: add a directory or http(s) URL to 'repositories'");
        }

        var problems = new List<string>();
        foreach (var location in config.Repositories)
        {
            var repository = ActivityRepositories.Open(location, http, Home);
            IReadOnlyList<ActivityListing> listings;
            try
            {
                listings = await repository.ListAsync(cancellationToken);
            }
            catch (TrellisException e)
            {
                problems.Add(e.Message);
                continue;
            }

            var listing = listings.Where(l => l.Matches(selector)).OrderByDescending(static l => ParseVersion(l.Version)).FirstOrDefault();
            if (listing is null)
            {
                continue;
            }

            var dir = PrepareTarget(listing.Id, listing.Name);
            var staging = Path.Combine(Home, $".install-{Guid.NewGuid():N}");
            Directory.CreateDirectory(staging);
            try
            {
                await repository.FetchAsync(listing, staging, cancellationToken);
                var manifest = ActivityManifest.Load(staging);
                if (manifest.Id != listing.Id)
                {
                    throw TrellisException.Invalid($"{listing.Location}: the manifest's id {manifest.Id} differs from the repository's {listing.Id}");
                }

                Directory.Move(staging, dir);
                return Describe(manifest, dir, LoadConfig());
            }
            finally
            {
                if (Directory.Exists(staging))
                {
                    Directory.Delete(staging, recursive: true);
                }
            }
        }

        var why = problems.Count == 0 ? "" : $" ({string.Join("; ", problems)})";
        throw new TrellisException(ErrorKind.NotFound, $"activity '{selector}' is in none of the repositories {string.Join(", ", config.Repositories)}{why}");
    }

    /// <summary>Deletes an installed activity and forgets its enabled state and host tags.</summary>
    public InstalledActivity Uninstall(string selector)
    {
        var activity = Find(selector);
        Directory.Delete(activity.Directory, recursive: true);
        var config = LoadConfig();
        var id = activity.Manifest.Id.ToString();
        config.Enabled.RemoveAll(e => string.Equals(e, id, StringComparison.OrdinalIgnoreCase));
        config.Tags.Remove(id);
        SaveConfig(config);
        return activity;
    }

    /// <summary>Adds host tags to an activity.</summary>
    public InstalledActivity Tag(string selector, IReadOnlyList<string> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Length == 0 || tag.Any(static c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':')))
            {
                throw TrellisException.Invalid($"tag '{tag}' is not valid (letters, digits, '.', '_', '-', ':')");
            }
        }

        var activity = Find(selector);
        var config = LoadConfig();
        var id = activity.Manifest.Id.ToString();
        if (!config.Tags.TryGetValue(id, out var list))
        {
            config.Tags[id] = list = [];
        }

        foreach (var tag in tags)
        {
            if (!list.Contains(tag) && !activity.Manifest.Tags.Contains(tag))
            {
                list.Add(tag);
            }
        }

        SaveConfig(config);
        return Find(id);
    }

    /// <summary>Enables an activity (installing it from the repositories when it is not installed) or, for <c>tag:TAG</c>,
    /// every activity with that tag, now and later; returns the activities enabled now.</summary>
    public async Task<IReadOnlyList<InstalledActivity>> EnableAsync(string selector, CancellationToken cancellationToken)
    {
        var config = LoadConfig();
        if (TagRule(selector) is { } rule)
        {
            if (!config.Enabled.Contains(rule))
            {
                config.Enabled.Add(rule);
                SaveConfig(config);
            }

            var tag = rule[4..];
            return [.. List().Where(a => a.Tags.Contains(tag))];
        }

        var activity = TryFind(selector) ?? await InstallAsync(selector, cancellationToken);
        config = LoadConfig();
        var id = activity.Manifest.Id.ToString();
        if (!config.Enabled.Contains(id))
        {
            config.Enabled.Add(id);
            SaveConfig(config);
        }

        return [Find(id)];
    }

    /// <summary>Disables an activity (or removes a <c>tag:TAG</c> rule), keeping it installed; returns the <c>tag:</c>
    /// rules that still enable it (empty when it is now disabled).</summary>
    public IReadOnlyList<string> Disable(string selector)
    {
        var config = LoadConfig();
        if (TagRule(selector) is { } rule)
        {
            if (!config.Enabled.Remove(rule))
            {
                throw new TrellisException(ErrorKind.NotFound, $"'{selector}' is not enabled");
            }

            SaveConfig(config);
            return [];
        }

        var activity = Find(selector);
        config.Enabled.RemoveAll(e => string.Equals(e, activity.Manifest.Id.ToString(), StringComparison.OrdinalIgnoreCase));
        SaveConfig(config);
        return [.. config.Enabled.Where(e => e.StartsWith("tag:", StringComparison.Ordinal) && activity.Tags.Contains(e[4..]))];
    }

    private static string? TagRule(string selector)
    {
        if (!selector.StartsWith("tag:", StringComparison.Ordinal))
        {
            return null;
        }

        if (selector.Length == 4)
        {
            throw TrellisException.Invalid("'tag:' needs a tag after the colon (tag:TAG)");
        }

        return selector;
    }

    private static bool Matches(ActivityManifest manifest, string selector) =>
        (Guid.TryParse(selector, out var id) && id == manifest.Id)
        || string.Equals(selector, manifest.Name, StringComparison.Ordinal)
        || string.Equals(selector, manifest.Role, StringComparison.Ordinal);

    private static InstalledActivity Describe(ActivityManifest manifest, string dir, ActivityStoreConfig config)
    {
        var id = manifest.Id.ToString();
        var tags = new List<string>(manifest.Tags);
        if (config.Tags.TryGetValue(id, out var hostTags))
        {
            tags.AddRange(hostTags.Where(t => !tags.Contains(t)));
        }

        var enabled = config.Enabled.Any(e =>
            string.Equals(e, id, StringComparison.OrdinalIgnoreCase)
            || (e.StartsWith("tag:", StringComparison.Ordinal) && tags.Contains(e[4..])));
        return new InstalledActivity(manifest, dir, tags, enabled);
    }

    private string PrepareTarget(Guid id, string name)
    {
        RequireHome();
        var dir = Path.Combine(ActivitiesDirectory, id.ToString());
        if (Directory.Exists(dir))
        {
            throw new TrellisException(ErrorKind.AlreadyExists, $"activity {name} ({id}) is installed already");
        }

        return dir;
    }

    private static Version ParseVersion(string text) =>
        Version.TryParse(text.Split('-', '+')[0], out var v) ? v : new Version(0, 0);

    private void RequireHome()
    {
        if (!Exists)
        {
            throw new TrellisException(ErrorKind.FailedPrecondition, $"no Trellis home at {Home}: run 'trellis activity init' (or pass --home / set {HomeVariable})");
        }
    }
}
