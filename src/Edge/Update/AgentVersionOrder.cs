using System.Globalization;

namespace Trellis.Edge.Update;

/// <summary>Orders agent versions the semver way: numeric parts by value (a missing part is 0), a pre-release
/// (<c>1.2.0-rc.1</c>) before its release, build metadata (<c>+sha</c>) ignored.</summary>
public static class AgentVersionOrder
{
    /// <summary>Whether <paramref name="candidate"/> is a newer version than <paramref name="current"/>; false when either
    /// cannot be read.</summary>
    public static bool IsNewer(string candidate, string current) =>
        TryCompare(candidate, current, out var order) && order > 0;

    /// <summary>Compares two versions; false when either is not a version (empty, or a non-numeric core part).</summary>
    public static bool TryCompare(string a, string b, out int order)
    {
        order = 0;
        if (!TryParse(a, out var coreA, out var preA) || !TryParse(b, out var coreB, out var preB))
        {
            return false;
        }

        for (var i = 0; i < Math.Max(coreA.Length, coreB.Length); i++)
        {
            var x = i < coreA.Length ? coreA[i] : 0;
            var y = i < coreB.Length ? coreB[i] : 0;
            if (x != y)
            {
                order = x.CompareTo(y);
                return true;
            }
        }

        order = ComparePreRelease(preA, preB);
        return true;
    }

    private static bool TryParse(string version, out long[] core, out string[] preRelease)
    {
        core = [];
        preRelease = [];
        var text = version.Trim();
        if (text.StartsWith('v') || text.StartsWith('V'))
        {
            text = text[1..];
        }

        var plus = text.IndexOf('+', StringComparison.Ordinal);
        if (plus >= 0)
        {
            text = text[..plus];
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0)
        {
            preRelease = text[(dash + 1)..].Split('.');
            text = text[..dash];
        }

        var parts = text.Split('.');
        core = new long[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out core[i]))
            {
                return false;
            }
        }

        return parts.Length > 0;
    }

    private static int ComparePreRelease(string[] a, string[] b)
    {
        // A release is newer than any of its pre-releases.
        if (a.Length == 0 || b.Length == 0)
        {
            return b.Length.CompareTo(a.Length);
        }

        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var numericA = long.TryParse(a[i], NumberStyles.None, CultureInfo.InvariantCulture, out var x);
            var numericB = long.TryParse(b[i], NumberStyles.None, CultureInfo.InvariantCulture, out var y);
            var order = (numericA, numericB) switch
            {
                (true, true) => x.CompareTo(y),
                (true, false) => -1,
                (false, true) => 1,
                _ => string.CompareOrdinal(a[i], b[i]),
            };
            if (order != 0)
            {
                return Math.Sign(order);
            }
        }

        return a.Length.CompareTo(b.Length);
    }
}
