using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Api.Errors;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;

namespace Trellis.Api.Edge;

/// <summary>The agent builds of this gateway, in <see cref="EdgeBuildsOptions.BuildsDirectory"/> as
/// <c>&lt;arch&gt;/&lt;version&gt;/trellis-edge</c> with a <c>manifest.json</c> (<c>{arch, version, sha256, size}</c>) beside
/// each; the directory is read once and then kept in memory.</summary>
public sealed class EdgeBuilds : IEdgeBuilds
{
    public const string BinaryName = "trellis-edge";
    public const string ManifestName = "manifest.json";

    private readonly Lock _lock = new();
    private readonly string _root;
    private Dictionary<string, List<BuildInfo>>? _byArch;

    public EdgeBuilds(EdgeBuildsOptions options)
    {
        _root = Path.GetFullPath(options.BuildsDirectory);
        MaxBuildBytes = options.MaxBuildBytes;
    }

    public long MaxBuildBytes { get; }

    /// <summary>Raised after an upload that is now the newest build of its architecture.</summary>
    public event Action<BuildInfo>? Added;

    public BuildInfo? Latest(string arch)
    {
        lock (_lock)
        {
            return Index().TryGetValue(arch, out var builds) && builds.Count > 0 ? builds[^1] : null;
        }
    }

    /// <summary>Every build, by architecture and then version (oldest first).</summary>
    public IReadOnlyList<BuildInfo> List()
    {
        lock (_lock)
        {
            return [.. Index().OrderBy(static p => p.Key, StringComparer.Ordinal).SelectMany(static p => p.Value)];
        }
    }

    /// <summary>The file of <paramref name="build"/>.</summary>
    public string BinaryPath(BuildInfo build) => Path.Combine(_root, build.Arch, build.Version, BinaryName);

    /// <summary>An architecture: a .NET runtime identifier such as linux-arm64 (1 to 64 of a-z, 0-9, '-').</summary>
    public static string Arch(string? arch) =>
        arch is { Length: > 0 and <= 64 } && arch.All(static c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') && arch[0] != '-'
            ? arch
            : throw TrellisException.Invalid($"arch '{Shorten(arch)}' is not a runtime identifier: use 1 to 64 characters of a-z, 0-9 and '-' such as linux-arm64 or linux-x64");

    /// <summary>A version: 1 to 64 characters of A-Z, a-z, 0-9, '.', '-', '+', starting with a letter or digit (1.4.0, 1.5.0-rc.1).</summary>
    public static string Version(string? version) =>
        version is { Length: > 0 and <= 64 } && char.IsAsciiLetterOrDigit(version[0])
            && version.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '+') && !version.Contains("..", StringComparison.Ordinal)
            ? version
            : throw TrellisException.Invalid(string.IsNullOrEmpty(version)
                ? "the version is missing: PUT /edge/builds/{arch}?version=1.2.3"
                : $"version '{Shorten(version)}' is not valid: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '-', '+' starting with a letter or digit, such as 1.4.0");

    /// <summary>Stores an upload read from <paramref name="body"/> (at most <see cref="MaxBuildBytes"/>), replacing the same
    /// version; when <paramref name="sha256"/> is given, the upload must have that hash.</summary>
    public async Task<BuildInfo> AddAsync(string arch, string version, Stream body, string? sha256, CancellationToken cancellationToken)
    {
        arch = Arch(arch);
        version = Version(version);
        if (sha256 is not null && (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigit)))
        {
            throw TrellisException.Invalid($"sha256 '{Shorten(sha256)}' is not a SHA-256 in hex (64 hex digits)");
        }

        var incoming = Path.Combine(_root, ".incoming");
        Directory.CreateDirectory(incoming);
        var temp = Path.Combine(incoming, Guid.NewGuid().ToString("N"));
        try
        {
            long size = 0;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    size += read;
                    if (size > MaxBuildBytes)
                    {
                        throw ApiException.PayloadTooLarge($"the build is larger than the limit of {MaxBuildBytes} bytes ({EdgeBuildsOptions.Section}:MaxBuildBytes)");
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                await file.FlushAsync(cancellationToken);
            }

            if (size == 0)
            {
                throw TrellisException.Invalid("the build is empty: send the trellis-edge binary as the body (application/octet-stream)");
            }

            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (sha256 is not null && !string.Equals(sha256, actual, StringComparison.OrdinalIgnoreCase))
            {
                throw TrellisException.Invalid($"the upload's SHA-256 is {actual}, not the sha256 {sha256.ToLowerInvariant()} given: the file was changed or cut short");
            }

            var build = new BuildInfo { Arch = arch, Version = version, Sha256 = actual, Size = size, Path = $"/edge/builds/{arch}/binary" };
            var folder = Path.Combine(_root, arch, version);
            Directory.CreateDirectory(folder);
            var manifest = new JsonObject
            {
                ["arch"] = arch,
                ["version"] = version,
                ["sha256"] = actual,
                ["size"] = size,
            };
            BuildInfo? latest;
            lock (_lock)
            {
                File.Move(temp, Path.Combine(folder, BinaryName), overwrite: true);
                File.WriteAllText(Path.Combine(folder, ManifestName), manifest.ToJsonString());
                var index = Index();
                if (!index.TryGetValue(arch, out var builds))
                {
                    index[arch] = builds = [];
                }

                builds.RemoveAll(b => b.Version == version);
                builds.Add(build);
                builds.Sort(static (a, b) => CompareVersions(a.Version, b.Version));
                latest = builds[^1];
            }

            if (ReferenceEquals(latest, build))
            {
                Added?.Invoke(build);
            }

            return build;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Compares versions as SemVer does where they are SemVer: numeric parts as numbers, a release after its
    /// pre-releases, build metadata ignored; other parts by ordinal text.</summary>
    public static int CompareVersions(string a, string b)
    {
        static (string Core, string? Pre) Split(string v)
        {
            var plus = v.IndexOf('+', StringComparison.Ordinal);
            if (plus >= 0)
            {
                v = v[..plus];
            }

            var dash = v.IndexOf('-', StringComparison.Ordinal);
            return dash >= 0 ? (v[..dash], v[(dash + 1)..]) : (v, null);
        }

        static int Parts(string x, string y)
        {
            var xs = x.Split('.');
            var ys = y.Split('.');
            for (var i = 0; i < Math.Max(xs.Length, ys.Length); i++)
            {
                if (i >= xs.Length)
                {
                    return -1;
                }

                if (i >= ys.Length)
                {
                    return 1;
                }

                var xNumber = long.TryParse(xs[i], NumberStyles.None, CultureInfo.InvariantCulture, out var xn);
                var yNumber = long.TryParse(ys[i], NumberStyles.None, CultureInfo.InvariantCulture, out var yn);
                var c = (xNumber, yNumber) switch
                {
                    (true, true) => xn.CompareTo(yn),
                    (true, false) => -1,
                    (false, true) => 1,
                    _ => string.CompareOrdinal(xs[i], ys[i]),
                };
                if (c != 0)
                {
                    return c;
                }
            }

            return 0;
        }

        var (aCore, aPre) = Split(a);
        var (bCore, bPre) = Split(b);
        var core = Parts(aCore, bCore);
        if (core != 0)
        {
            return core;
        }

        return (aPre, bPre) switch
        {
            (null, null) => string.CompareOrdinal(a, b),
            (null, _) => 1,
            (_, null) => -1,
            _ => Parts(aPre, bPre) is var p && p != 0 ? p : string.CompareOrdinal(a, b),
        };
    }

    private Dictionary<string, List<BuildInfo>> Index()
    {
        if (_byArch is not null)
        {
            return _byArch;
        }

        var index = new Dictionary<string, List<BuildInfo>>(StringComparer.Ordinal);
        if (Directory.Exists(_root))
        {
            foreach (var manifest in Directory.EnumerateFiles(_root, ManifestName, new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 2 }))
            {
                if (Read(manifest) is not { } build)
                {
                    continue;
                }

                if (!index.TryGetValue(build.Arch, out var builds))
                {
                    index[build.Arch] = builds = [];
                }

                builds.Add(build);
            }
        }

        foreach (var builds in index.Values)
        {
            builds.Sort(static (a, b) => CompareVersions(a.Version, b.Version));
        }

        return _byArch = index;
    }

    /// <summary>A manifest that matches its place and its binary; anything else is skipped.</summary>
    private BuildInfo? Read(string manifest)
    {
        try
        {
            var folder = Path.GetDirectoryName(manifest)!;
            var json = JsonNode.Parse(File.ReadAllText(manifest)) as JsonObject;
            var arch = (string?)json?["arch"];
            var version = (string?)json?["version"];
            var sha = (string?)json?["sha256"];
            var size = (long?)json?["size"];
            if (arch is null || version is null || sha is null || size is null
                || Path.GetFileName(folder) != version || Path.GetFileName(Path.GetDirectoryName(folder)) != arch
                || !File.Exists(Path.Combine(folder, BinaryName)))
            {
                return null;
            }

            return new BuildInfo { Arch = arch, Version = version, Sha256 = sha, Size = size.Value, Path = $"/edge/builds/{arch}/binary" };
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Shorten(string? text) => text is null ? "" : text.Length > 80 ? text[..80] + "…" : text;
}
