using System.CommandLine;

namespace Trellis.Cli;

/// <summary>The connection settings every verb shares: <c>--url</c>, <c>--grpc-url</c>, <c>--token</c> and <c>--profile</c>
/// (options of the root, usable after any verb), resolved as flag &gt; environment variable (TRELLIS_URL, TRELLIS_GRPC_URL,
/// TRELLIS_TOKEN, TRELLIS_PROFILE) &gt; profile file &gt; default.</summary>
internal static class ConnectionOptions
{
    public const string DefaultUrl = "http://127.0.0.1:5080";
    public const string DefaultGrpcUrl = "http://127.0.0.1:5081";

    private static Option<string?> Url() => new("--url")
    {
        Description = $"HTTP address of a gateway (else TRELLIS_URL, the profile's url, {DefaultUrl})", Recursive = true,
    };

    private static Option<string?> GrpcUrl() => new("--grpc-url")
    {
        Description = $"gRPC address of a gateway (else TRELLIS_GRPC_URL, the profile's grpc-url, {DefaultGrpcUrl})", Recursive = true,
    };

    private static Option<string?> Token() => new("--token")
    {
        Description = "bearer token, the gateway's admin token when it has one (else TRELLIS_TOKEN, the profile's token)", Recursive = true,
    };

    private static Option<string?> Profile() => new("--profile")
    {
        Description = "the profile of the profile file to use (else TRELLIS_PROFILE, the file's current profile)", Recursive = true,
    };

    private static Option<bool> Progress() => new("--progress")
    {
        Description = "show progress on stderr even when it is not a terminal", Recursive = true,
    };

    /// <summary>New instances of the options, for the root command (each run builds its own tree).</summary>
    public static IEnumerable<Option> Create() => [Url(), GrpcUrl(), Token(), Profile(), Progress()];

    /// <summary>Whether --progress was given.</summary>
    public static bool ProgressForced(ParseResult parse) => parse.GetValue<bool>("--progress");

    /// <summary>The gateway's HTTP address.</summary>
    public static Uri ResolveUrl(ParseResult parse) => AsUrl(Resolve(parse, "--url", "TRELLIS_URL", "url", out var from) ?? DefaultUrl, from);

    /// <summary>The gateway's gRPC address.</summary>
    public static Uri ResolveGrpcUrl(ParseResult parse) => AsUrl(Resolve(parse, "--grpc-url", "TRELLIS_GRPC_URL", "grpc-url", out var from) ?? DefaultGrpcUrl, from);

    public static string? ResolveToken(ParseResult parse) => Resolve(parse, "--token", "TRELLIS_TOKEN", "token", out _);

    /// <summary>Whether a gateway is named anywhere (flag, environment or profile) rather than only by the default.</summary>
    public static bool UrlConfigured(ParseResult parse) => Resolve(parse, "--url", "TRELLIS_URL", "url", out _) is not null;

    /// <summary>The profile selected by --profile, TRELLIS_PROFILE or the file's current one (null when none is).</summary>
    public static string? SelectedProfile(ParseResult parse, ProfileFile file) =>
        parse.GetValue<string?>("--profile") is { Length: > 0 } flag ? flag : CliContext.Current.Variable("TRELLIS_PROFILE") ?? file.Current;

    /// <summary>The value from the first place that has it; <paramref name="from"/> names that place for messages.</summary>
    private static string? Resolve(ParseResult parse, string option, string variable, string key, out string from)
    {
        if (parse.GetValue<string?>(option) is { Length: > 0 } flag)
        {
            from = option;
            return flag;
        }

        var context = CliContext.Current;
        if (context.Variable(variable) is { } env)
        {
            from = variable;
            return env;
        }

        var file = ProfileFile.Load(context);
        var explicitProfile = parse.GetValue<string?>("--profile") is { Length: > 0 } || context.Variable("TRELLIS_PROFILE") is not null;
        if (SelectedProfile(parse, file) is { } profile)
        {
            if (!file.Has(profile))
            {
                if (explicitProfile)
                {
                    throw new CliException(CliApp.Usage, $"there is no profile '{profile}' in {file.Path} (trellis config list shows the profiles)");
                }
            }
            else if (file.Get(profile, key) is { } stored)
            {
                from = $"{key} of profile {profile} in {file.Path}";
                return stored;
            }
        }

        from = "default";
        return null;
    }

    private static Uri AsUrl(string text, string from) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new CliException(CliApp.Usage, $"{from} must be an http:// or https:// URL, not '{text}'");
}
