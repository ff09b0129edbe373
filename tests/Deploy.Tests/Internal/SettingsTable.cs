using System.Text.RegularExpressions;

namespace Trellis.Deploy.Tests.Internal;

/// <summary>The keys of README.md's "## Configuration" table: <c>Trellis:Section:Key</c>, with rows such as
/// <c>`Trellis:Cluster:ServiceId`, `ClusterId`</c> naming a second key of the same section.</summary>
internal static partial class SettingsTable
{
    public static IReadOnlySet<string> Keys { get; } = Parse(File.ReadAllText(Repository.PathOf("README.md")));

    /// <summary>The keys of the Configuration table of <paramref name="readme"/>, compared ignoring case (as .NET's
    /// configuration does).</summary>
    public static IReadOnlySet<string> Parse(string readme)
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var inSection = false;
        foreach (var line in readme.Split('\n'))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                inSection = line.TrimEnd() == "## Configuration";
                continue;
            }

            if (!inSection || !line.StartsWith('|'))
            {
                continue;
            }

            var cell = line.Split('|')[1];
            string? section = null;
            foreach (Match m in Code().Matches(cell))
            {
                var key = m.Groups[1].Value;
                if (key.StartsWith("Trellis:", StringComparison.Ordinal))
                {
                    keys.Add(key);
                    section = key[..key.LastIndexOf(':')];
                }
                else if (section is not null && !key.Contains(':'))
                {
                    keys.Add($"{section}:{key}");
                }
            }
        }

        return keys.Count > 0 ? keys : throw new InvalidOperationException("README.md has no settings table under \"## Configuration\"");
    }

    /// <summary>The setting an environment variable sets (<c>Trellis__A__B</c> → <c>Trellis:A:B</c>), or null when it is
    /// not a Trellis variable.</summary>
    public static string? KeyOfVariable(string name) =>
        name.StartsWith("Trellis__", StringComparison.OrdinalIgnoreCase) ? name.Replace("__", ":", StringComparison.Ordinal) : null;

    /// <summary>The settings a <c>--Trellis:A:B=value</c> argument sets, if it is one.</summary>
    public static string? KeyOfArgument(string arg) =>
        Argument().Match(arg) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Whether <paramref name="key"/> is in the table.</summary>
    public static bool Exists(string key) => Keys.Contains(key);

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Code();

    [GeneratedRegex("^--(Trellis:[^=]+)=")]
    private static partial Regex Argument();
}
