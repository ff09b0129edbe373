using Trellis.Core.Messaging;

namespace Trellis.Core.Compositions;

/// <summary>A composition of requests: Gilmour's composers (pipe, andand, oror, batch, parallel), nestable.</summary>
public abstract record Composition;

/// <summary>One request: a topic, an optional message merged into the step's input, an optional timeout.</summary>
public sealed record RequestStep(string Topic, JsonPayload? Message, TimeSpan? Timeout) : Composition;

/// <summary>The kinds of composer.</summary>
public enum ComposerKind
{
    /// <summary>Output of step n is the input of n+1; stops at the first code ≠ 200.</summary>
    Pipe,

    /// <summary>No data passed; stops at the first error.</summary>
    AndAnd,

    /// <summary>Stops at the first success.</summary>
    OrOr,

    /// <summary>Runs every step in turn, ignoring errors; returns the last output, or all with record.</summary>
    Batch,

    /// <summary>Runs every step at once; returns every output; the code is the largest.</summary>
    Parallel,
}

/// <summary>A composer over its steps.</summary>
public sealed record Composer(ComposerKind Kind, IReadOnlyList<Composition> Steps, bool Record = false) : Composition;

/// <summary>What a composition (or a single request) returns: <c>{messages, code, length}</c>.</summary>
public sealed record CompositionResult(IReadOnlyList<Message> Messages)
{
    /// <summary>The largest code of the messages.</summary>
    public int Code
    {
        get
        {
            var code = 0;
            foreach (var message in Messages)
            {
                code = Math.Max(code, message.Code);
            }

            return code;
        }
    }

    public int Length => Messages.Count;
}
