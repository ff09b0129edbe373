using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>Reads the google.api.http option of a method.</summary>
internal static class HttpRules
{
    private static readonly ExtensionRegistry Registry = [AnnotationsExtensions.Http];

    public static HttpRule? Get(MethodDescriptor method)
    {
        var options = method.GetOptions();
        if (options is null)
        {
            return null;
        }

        if (options.HasExtension(AnnotationsExtensions.Http))
        {
            return options.GetExtension(AnnotationsExtensions.Http);
        }

        // The descriptor may come from code compiled against another copy of google/api/annotations.proto, which
        // leaves the option as an unknown field (or a foreign extension); both survive a round trip through bytes.
        var reparsed = MethodOptions.Parser.WithExtensionRegistry(Registry).ParseFrom(options.ToByteString());
        return reparsed.HasExtension(AnnotationsExtensions.Http) ? reparsed.GetExtension(AnnotationsExtensions.Http) : null;
    }

    /// <summary>The rule itself and every additional binding, each with its HTTP method and path.</summary>
    public static IEnumerable<(string HttpMethod, string Path, HttpRule Rule)> Bindings(HttpRule rule)
    {
        if (Pattern(rule) is { } own)
        {
            yield return (own.Method, own.Path, rule);
        }

        foreach (var additional in rule.AdditionalBindings)
        {
            if (Pattern(additional) is { } extra)
            {
                yield return (extra.Method, extra.Path, additional);
            }
        }
    }

    private static (string Method, string Path)? Pattern(HttpRule rule) => rule.PatternCase switch
    {
        HttpRule.PatternOneofCase.Get => ("GET", rule.Get),
        HttpRule.PatternOneofCase.Put => ("PUT", rule.Put),
        HttpRule.PatternOneofCase.Post => ("POST", rule.Post),
        HttpRule.PatternOneofCase.Delete => ("DELETE", rule.Delete),
        HttpRule.PatternOneofCase.Patch => ("PATCH", rule.Patch),
        HttpRule.PatternOneofCase.Custom => (rule.Custom.Kind, rule.Custom.Path),
        _ => null,
    };
}
