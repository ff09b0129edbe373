using System.Text;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>A parsed google.api.http path template.</summary>
/// <remarks>
/// Grammar (google/api/http.proto):
/// Template = "/" Segments [ Verb ] ; Segments = Segment { "/" Segment } ;
/// Segment = "*" | "**" | LITERAL | Variable ; Variable = "{" FieldPath [ "=" Segments ] "}" ;
/// FieldPath = IDENT { "." IDENT } ; Verb = ":" LITERAL .
/// </remarks>
internal sealed class HttpTemplate
{
    private HttpTemplate(string text, IReadOnlyList<TemplateSegment> segments, string? verb)
    {
        Text = text;
        Segments = segments;
        Verb = verb;
    }

    public string Text { get; }

    /// <summary>Top-level segments; a variable's own segments are flattened in, each marked with its variable.</summary>
    public IReadOnlyList<TemplateSegment> Segments { get; }

    public string? Verb { get; }

    public static HttpTemplate Parse(string text)
    {
        if (string.IsNullOrEmpty(text) || text[0] != '/')
        {
            throw new FormatException($"Path template '{text}' must start with '/'.");
        }

        var verb = FindVerb(text, out var pathEnd);
        var segments = new List<TemplateSegment>();
        var variableIndex = 0;
        var position = 1;
        while (position <= pathEnd)
        {
            if (position < pathEnd && text[position] == '{')
            {
                var close = text.IndexOf('}', position);
                if (close < 0 || close > pathEnd)
                {
                    throw new FormatException($"Path template '{text}' has an unclosed '{{'.");
                }

                var body = text[(position + 1)..close];
                var equals = body.IndexOf('=');
                var fieldPath = equals < 0 ? body : body[..equals];
                ValidateFieldPath(text, fieldPath);
                var inner = equals < 0 ? ["*"] : body[(equals + 1)..].Split('/');
                foreach (var part in inner)
                {
                    segments.Add(ParseSegment(text, part, fieldPath, variableIndex));
                }

                variableIndex++;
                position = close + 1;
            }
            else
            {
                var next = text.IndexOf('/', position);
                var end = next < 0 || next > pathEnd ? pathEnd : next;
                var part = text[position..end];
                if (part.Contains('{') || part.Contains('}'))
                {
                    throw new FormatException($"Path template '{text}': a variable must be a whole segment ('{part}').");
                }

                segments.Add(ParseSegment(text, part, variable: null, variableIndex: -1));
                position = end;
            }

            if (position < pathEnd)
            {
                if (text[position] != '/')
                {
                    throw new FormatException($"Path template '{text}': expected '/' at position {position}.");
                }

                position++;
                if (position >= pathEnd)
                {
                    throw new FormatException($"Path template '{text}' ends with '/'.");
                }
            }
            else
            {
                break;
            }
        }

        for (var i = 0; i < segments.Count - 1; i++)
        {
            if (segments[i].Kind == SegmentKind.DoubleWildcard)
            {
                throw new FormatException($"Path template '{text}': '**' may only be the last segment.");
            }
        }

        return new HttpTemplate(text, segments, verb);
    }

    public IEnumerable<string> VariablePaths()
    {
        string? last = null;
        foreach (var segment in Segments)
        {
            if (segment.Variable is not null && segment.Variable != last)
            {
                last = segment.Variable;
                yield return segment.Variable;
            }
        }
    }

    private static string? FindVerb(string text, out int pathEnd)
    {
        // The verb is a ':' outside braces after the last '/'.
        var depth = 0;
        var lastSlash = 0;
        var colon = -1;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '{':
                    depth++;
                    break;
                case '}':
                    depth--;
                    break;
                case '/' when depth == 0:
                    lastSlash = i;
                    colon = -1;
                    break;
                case ':' when depth == 0 && colon < 0:
                    colon = i;
                    break;
            }
        }

        if (colon < 0 || colon < lastSlash)
        {
            pathEnd = text.Length;
            return null;
        }

        var verb = text[(colon + 1)..];
        if (verb.Length == 0 || verb.IndexOfAny(['/', '{', '}', ':', '*']) >= 0)
        {
            throw new FormatException($"Path template '{text}' has an invalid verb ':{verb}'.");
        }

        pathEnd = colon;
        return verb;
    }

    private static TemplateSegment ParseSegment(string text, string part, string? variable, int variableIndex)
    {
        if (part.Length == 0)
        {
            throw new FormatException($"Path template '{text}' has an empty segment.");
        }

        return part switch
        {
            "*" => new TemplateSegment(SegmentKind.Wildcard, null, variable, variableIndex),
            "**" => new TemplateSegment(SegmentKind.DoubleWildcard, null, variable, variableIndex),
            _ when part.IndexOfAny(['*', '{', '}', '=']) >= 0 => throw new FormatException($"Path template '{text}' has an invalid segment '{part}'."),
            _ => new TemplateSegment(SegmentKind.Literal, part, variable, variableIndex),
        };
    }

    private static void ValidateFieldPath(string text, string fieldPath)
    {
        if (fieldPath.Length == 0)
        {
            throw new FormatException($"Path template '{text}' has a variable without a field path.");
        }

        foreach (var identifier in fieldPath.Split('.'))
        {
            if (identifier.Length == 0 || !(char.IsAsciiLetter(identifier[0]) || identifier[0] == '_')
                || !identifier.All(static c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw new FormatException($"Path template '{text}' has an invalid field path '{fieldPath}'.");
            }
        }
    }

    public override string ToString()
    {
        var builder = new StringBuilder();
        foreach (var segment in Segments)
        {
            builder.Append('/').Append(segment.Kind switch
            {
                SegmentKind.Literal => segment.Literal,
                SegmentKind.Wildcard => "*",
                _ => "**",
            });
        }

        return Verb is null ? builder.ToString() : builder.Append(':').Append(Verb).ToString();
    }
}

internal enum SegmentKind
{
    Literal,
    Wildcard,
    DoubleWildcard,
}

/// <summary>One path segment; <see cref="Variable"/> names the field it belongs to, if any.</summary>
internal sealed record TemplateSegment(SegmentKind Kind, string? Literal, string? Variable, int VariableIndex);
