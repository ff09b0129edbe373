using System.CommandLine;

namespace Trellis.Cli;

/// <summary>An option holding an http:// or https:// address; anything else is refused naming the option.</summary>
internal static class UrlOption
{
    public static Option<Uri> Create(string name, string description, string fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => new Uri(fallback),
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            {
                return uri;
            }

            result.AddError($"{name} must be an http:// or https:// URL, not '{text}'");
            return null;
        },
    };
}
