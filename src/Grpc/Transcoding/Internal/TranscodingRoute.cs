using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>A google.api.http template turned into an ASP.NET Core route pattern, plus how to rebuild each variable's value.</summary>
/// <remarks>
/// Every '*' or '**' becomes a route parameter with a synthetic name; a variable spanning several segments
/// ({name=shelves/*/books/*}) is rebuilt per request by joining its literal and matched parts with '/'.
/// A trailing verb becomes part of the last segment, or, after a catch-all, a constraint plus suffix stripping.
/// </remarks>
internal sealed class TranscodingRoute
{
    private TranscodingRoute(RoutePattern pattern, IReadOnlyList<RouteVariable> variables, string? catchAllVerbSuffix)
    {
        Pattern = pattern;
        Variables = variables;
        CatchAllVerbSuffix = catchAllVerbSuffix;
    }

    public RoutePattern Pattern { get; }

    public IReadOnlyList<RouteVariable> Variables { get; }

    /// <summary>":verb" that the catch-all parameter's value ends with and that is not part of the value.</summary>
    public string? CatchAllVerbSuffix { get; }

    public static TranscodingRoute Create(HttpTemplate template)
    {
        var segments = new List<RoutePatternPathSegment>();
        var variables = new List<(string Path, List<VariablePart> Parts)>();
        var verbSuffix = template.Verb is null ? null : ":" + template.Verb;
        string? catchAllVerb = null;
        for (var i = 0; i < template.Segments.Count; i++)
        {
            var segment = template.Segments[i];
            var last = i == template.Segments.Count - 1;
            var parameter = segment.Variable is null ? $"__discard{i}" : $"__var{segment.VariableIndex}_{i}";
            var parts = new List<RoutePatternPart>(2);
            switch (segment.Kind)
            {
                case SegmentKind.Literal:
                    parts.Add(RoutePatternFactory.LiteralPart(last && verbSuffix is not null ? segment.Literal + verbSuffix : segment.Literal!));
                    break;

                case SegmentKind.Wildcard:
                    parts.Add(RoutePatternFactory.ParameterPart(parameter));
                    if (last && verbSuffix is not null)
                    {
                        parts.Add(RoutePatternFactory.LiteralPart(verbSuffix));
                    }

                    break;

                default:
                    if (verbSuffix is not null)
                    {
                        // A catch-all cannot share its segment with a literal, so the verb is checked by a constraint.
                        catchAllVerb = verbSuffix;
                        parts.Add(RoutePatternFactory.ParameterPart(
                            parameter,
                            null,
                            RoutePatternParameterKind.CatchAll,
                            RoutePatternFactory.ParameterPolicy(new VerbSuffixConstraint(verbSuffix))));
                    }
                    else
                    {
                        parts.Add(RoutePatternFactory.ParameterPart(parameter, null, RoutePatternParameterKind.CatchAll));
                    }

                    break;
            }

            segments.Add(RoutePatternFactory.Segment(parts));
            if (segment.Variable is not null)
            {
                if (variables.Count <= segment.VariableIndex)
                {
                    variables.Add((segment.Variable, []));
                }

                variables[segment.VariableIndex].Parts.Add(segment.Kind == SegmentKind.Literal
                    ? new VariablePart(segment.Literal, null, false)
                    : new VariablePart(null, parameter, segment.Kind == SegmentKind.DoubleWildcard));
            }
        }

        var pattern = RoutePatternFactory.Pattern(template.Text, segments);
        return new TranscodingRoute(pattern, variables.Select(static v => new RouteVariable(v.Path, v.Parts)).ToArray(), catchAllVerb);
    }

    /// <summary>The value of a variable for the current request, rebuilt from the matched route values.</summary>
    public string GetValue(RouteVariable variable, RouteValueDictionary values)
    {
        if (variable.Parts.Count == 1 && variable.Parts[0].Parameter is { } single)
        {
            return ReadParameter(values, single, variable.Parts[0].IsCatchAll);
        }

        var pieces = new List<string>(variable.Parts.Count);
        foreach (var part in variable.Parts)
        {
            var piece = part.Literal ?? ReadParameter(values, part.Parameter!, part.IsCatchAll);

            // A '**' that matched nothing contributes no segment (and no separator).
            if (piece.Length > 0 || part.Literal is not null)
            {
                pieces.Add(piece);
            }
        }

        return string.Join('/', pieces);
    }

    private string ReadParameter(RouteValueDictionary values, string name, bool catchAll)
    {
        var value = values.TryGetValue(name, out var raw) ? raw as string ?? string.Empty : string.Empty;
        if (catchAll && CatchAllVerbSuffix is not null && value.EndsWith(CatchAllVerbSuffix, StringComparison.Ordinal))
        {
            value = value[..^CatchAllVerbSuffix.Length];
        }

        return value;
    }

    private sealed class VerbSuffixConstraint(string suffix) : IRouteConstraint
    {
        public bool Match(HttpContext? httpContext, IRouter? route, string routeKey, RouteValueDictionary values, RouteDirection routeDirection)
            => values.TryGetValue(routeKey, out var value) && value is string text && text.Length > suffix.Length && text.EndsWith(suffix, StringComparison.Ordinal);
    }
}

/// <summary>One template variable: the request field it sets and the route parts that make up its value.</summary>
internal sealed record RouteVariable(string FieldPath, IReadOnlyList<VariablePart> Parts);

internal readonly record struct VariablePart(string? Literal, string? Parameter, bool IsCatchAll);
