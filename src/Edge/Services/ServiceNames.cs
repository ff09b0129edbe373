namespace Trellis.Edge.Services;

/// <summary>The rules for publisher and service names, and the <c>*</c> wildcard of discovery patterns.</summary>
public static class ServiceNames
{
    public const int MaxLength = 64;

    /// <summary>What is wrong with <paramref name="value"/> as the <paramref name="field"/> of a published service
    /// (or, with <paramref name="pattern"/>, of a discovery pattern where <c>*</c> matches any run of characters);
    /// null when it is fine.</summary>
    public static string? Problem(string? value, string field, bool pattern = false)
    {
        if (string.IsNullOrEmpty(value))
        {
            return $"{field} is missing: a name of 1-{MaxLength} characters";
        }

        if (value.Length > MaxLength)
        {
            return $"{field} '{Shorten(value)}' is {value.Length} characters long; at most {MaxLength} are allowed";
        }

        foreach (var c in value)
        {
            if (c is '_' or '/')
            {
                return $"{field} '{value}' contains '{c}', which names may not contain";
            }

            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return $"{field} '{Printable(value)}' contains whitespace or a control character, which names may not contain";
            }

            if (c == '*' && !pattern)
            {
                return $"{field} '{value}' contains '*': wildcards are for discovery, not for publishing";
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="name"/> matches <paramref name="pattern"/> (ordinal; <c>*</c> is any run of
    /// characters, also none).</summary>
    public static bool Matches(string pattern, string name)
    {
        // Iterative glob with one backtrack point: linear in practice, no recursion on hostile patterns.
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (p < pattern.Length && pattern[p] == name[n])
            {
                p++;
                n++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private static string Shorten(string value) => value.Length <= 20 ? value : value[..20] + "…";

    private static string Printable(string value)
    {
        var chars = value.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = '?';
            }
        }

        return Shorten(new string(chars));
    }
}
