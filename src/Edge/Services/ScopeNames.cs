namespace Trellis.Edge.Services;

/// <summary>Scopes as the local API and the CLI spell them: <c>process</c>, <c>os</c>, <c>lan</c>, <c>wan</c>.</summary>
public static class ScopeNames
{
    private static readonly (Scope Scope, string Name)[] All =
        [(Scope.Process, "process"), (Scope.OS, "os"), (Scope.Lan, "lan"), (Scope.Wan, "wan")];

    /// <summary>The lower-case name of one scope.</summary>
    public static string Name(Scope scope)
    {
        foreach (var (s, name) in All)
        {
            if (s == scope)
            {
                return name;
            }
        }

        return scope.ToString().ToLowerInvariant();
    }

    /// <summary>The names of the flags set in <paramref name="scopes"/>, innermost first.</summary>
    public static List<string> Names(Scope scopes)
    {
        var names = new List<string>(4);
        foreach (var (s, name) in All)
        {
            if ((scopes & s) != 0)
            {
                names.Add(name);
            }
        }

        return names;
    }

    /// <summary>Parses names such as <c>os,lan</c> (case-insensitive); <paramref name="problem"/> names a bad one.</summary>
    public static bool TryParse(IEnumerable<string> names, string field, out Scope scopes, out string? problem)
    {
        scopes = Scope.None;
        problem = null;
        foreach (var raw in names)
        {
            var name = raw.Trim();
            if (name.Length == 0)
            {
                continue;
            }

            var found = false;
            foreach (var (s, known) in All)
            {
                if (string.Equals(known, name, StringComparison.OrdinalIgnoreCase))
                {
                    scopes |= s;
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                problem = $"{field} has an unknown scope '{name}'; use process, os, lan or wan";
                return false;
            }
        }

        if (scopes == Scope.None)
        {
            problem = $"{field} names no scope; use process, os, lan or wan";
            return false;
        }

        return true;
    }

    public static bool TryParse(string? text, string field, out Scope scopes, out string? problem) =>
        TryParse((text ?? "").Split(','), field, out scopes, out problem);
}
