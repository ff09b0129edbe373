using System.Text.RegularExpressions;

namespace Trellis.Deploy.Tests.Internal;

/// <summary>What deploy/Dockerfile builds: its stages, the assemblies its final image holds (relative to its WORKDIR)
/// and the environment it sets.</summary>
internal sealed partial class Dockerfile
{
    private Dockerfile(IReadOnlySet<string> stages, IReadOnlySet<string> assemblies, IReadOnlyList<string> variables)
    {
        Stages = stages;
        Assemblies = assemblies;
        Variables = variables;
    }

    public static string PathOf => Repository.PathOf("deploy", "Dockerfile");

    public IReadOnlySet<string> Stages { get; }

    /// <summary>Paths such as <c>silo/Trellis.Silo.dll</c>: each <c>dotnet publish src/X -o /out/DIR</c>, copied as
    /// /out into the final image, with the assembly name of src/X's project.</summary>
    public IReadOnlySet<string> Assemblies { get; }

    public IReadOnlyList<string> Variables { get; }

    public static Dockerfile Load()
    {
        var text = File.ReadAllText(PathOf).Replace("\\\n", " ", StringComparison.Ordinal);
        var stages = Stage().Matches(text).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var assemblies = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in Publish().Matches(text))
        {
            var project = Repository.PathOf(m.Groups[1].Value.Split('/'));
            var csproj = Directory.Exists(project) ? Directory.GetFiles(project, "*.csproj").SingleOrDefault() : null;
            if (csproj is null)
            {
                throw new InvalidOperationException($"deploy/Dockerfile publishes {m.Groups[1].Value}, which has no project");
            }

            var name = AssemblyName().Match(File.ReadAllText(csproj)) is { Success: true } a ? a.Groups[1].Value : Path.GetFileNameWithoutExtension(csproj);
            assemblies.Add($"{m.Groups[2].Value}/{name}.dll");
        }

        var variables = Env().Matches(text).SelectMany(m => Variable().Matches(m.Groups[1].Value)).Select(v => v.Groups[1].Value).ToList();
        return new Dockerfile(stages, assemblies, variables);
    }

    [GeneratedRegex(@"^FROM\s+\S+\s+AS\s+(\S+)", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex Stage();

    [GeneratedRegex(@"dotnet publish (src/[\w.]+)\b[^&\n]*?-o /out/([\w.-]+)")]
    private static partial Regex Publish();

    [GeneratedRegex("<AssemblyName>([^<]+)</AssemblyName>")]
    private static partial Regex AssemblyName();

    [GeneratedRegex(@"^ENV\s+(.+)$", RegexOptions.Multiline)]
    private static partial Regex Env();

    [GeneratedRegex(@"(\w+)=")]
    private static partial Regex Variable();
}
