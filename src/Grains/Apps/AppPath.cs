using Trellis.Core.Errors;

namespace Trellis.Grains.Apps;

/// <summary>Names of apps and their subscription paths.</summary>
/// <remarks>An app is named by a path of segments (<c>chat</c>, <c>chat/room-1</c> for a child of <c>chat</c>); each
/// segment is 1 to 64 characters of a-z, 0-9, '-', '_' and '.', and not <c>.</c> or <c>..</c> (a URL could not address
/// such a name without normalising it away). An app is the grain <see cref="IAppGrain"/> keyed by its path.</remarks>
public static class AppPath
{
    public const int MaxDepth = 8;

    /// <summary>Checks an app name; throws INVALID_ARGUMENT naming what is wrong.</summary>
    public static string Validate(string? app, string what = "app")
    {
        if (string.IsNullOrEmpty(app))
        {
            throw TrellisException.Invalid($"{what} must not be empty");
        }

        var segments = app.Split('/');
        if (segments.Length > MaxDepth)
        {
            throw TrellisException.Invalid($"{what} '{Shorten(app)}' is nested deeper than {MaxDepth} levels");
        }

        foreach (var segment in segments)
        {
            ValidateSegment(segment, what, app);
        }

        return app;
    }

    /// <summary>Checks one segment (a child's name).</summary>
    public static void ValidateSegment(string segment, string what, string whole)
    {
        if (segment.Length is 0 or > 64)
        {
            throw TrellisException.Invalid($"{what} '{Shorten(whole)}' has an empty segment or one longer than 64 characters");
        }

        if (segment is "." or "..")
        {
            throw TrellisException.Invalid($"{what} '{Shorten(whole)}' has a segment '{segment}': '.' and '..' are not names");
        }

        foreach (var c in segment)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' or '.'))
            {
                throw TrellisException.Invalid($"{what} '{Shorten(whole)}' may only hold a-z, 0-9, '-', '_', '.' and '/' between segments");
            }
        }
    }

    /// <summary>Checks a subscription path: starts with '/', at most 200 characters, no control characters.</summary>
    public static string ValidateSubscriptionPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/' || path.Length > 200 || path.Any(char.IsControl))
        {
            throw TrellisException.Invalid($"path '{Shorten(path ?? "")}' must start with '/' and be at most 200 characters without control characters");
        }

        return path;
    }

    /// <summary>The parent of a child app, or null for a top-level app.</summary>
    public static string? Parent(string app) => app.LastIndexOf('/') is var slash and > 0 ? app[..slash] : null;

    private static string Shorten(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 60), "...");
}
