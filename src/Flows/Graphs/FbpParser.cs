using Trellis.Core.Errors;
using Trellis.Flows.Graphs.Internal;

namespace Trellis.Flows.Graphs;

/// <summary>The <c>.fbp</c> flow definition language, read as the flowbased npm <c>fbp</c> parser 1.8.0 reads it: the
/// same graph (<see cref="FlowGraph.ToJson"/> prints what <c>fbp FILE</c> prints) and the same errors.</summary>
/// <remarks>Bad input throws a <see cref="TrellisException"/> (<see cref="ErrorKind.InvalidArgument"/>): a syntax error
/// names line and column and what was expected there (PEG.js's message); a graph that names an undefined node, or a
/// node without a component, gets fbp's validation message naming it.</remarks>
public static class FbpParser
{
    /// <summary>Parses a whole .fbp text. Port names are folded to lower case unless <paramref name="caseSensitive"/>.</summary>
    public static FlowGraph Parse(string text, bool caseSensitive = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new FbpGrammar(text, caseSensitive).Parse();
    }
}
