namespace Trellis.Flows.Graphs.Internal;

/// <summary>What the fbp grammar expected where it failed, with the descriptions PEG.js prints in its messages.</summary>
internal enum FbpExpectation
{
    Space,
    Inport,
    Outport,
    DefaultInport,
    DefaultOutport,
    Dot,
    Colon,
    Comma,
    Newline,
    Hash,
    Arrow,
    Quote,
    OpenParen,
    CloseParen,
    At,
    OpenBracket,
    CloseBracket,
    NameStart,
    NodeNameChar,
    ComponentChar,
    MetaChar,
    AnnotationKeyChar,
    AnnotationValueChar,
    PortNameChar,
    Digit,
    AnyChar,
    Backslash,
    QuoteClass,
    NotQuote,
    OpenBrace,
    CloseBrace,
    False,
    Null,
    True,
    Number,
    String,
    EndOfInput,
}

internal static class FbpExpectations
{
    private static readonly string[] Descriptions =
    [
        "\" \"",
        "\"INPORT=\"",
        "\"OUTPORT=\"",
        "\"DEFAULT_INPORT=\"",
        "\"DEFAULT_OUTPORT=\"",
        "\".\"",
        "\":\"",
        "\",\"",
        @"[\n\r\u2028\u2029]",
        "\"#\"",
        "\"->\"",
        "\"'\"",
        "\"(\"",
        "\")\"",
        "\"@\"",
        "\"[\"",
        "\"]\"",
        "[a-zA-Z_]",
        @"[a-zA-Z0-9_\-]",
        @"[a-zA-Z/\-0-9_]",
        "[a-zA-Z/=_,0-9]",
        @"[a-zA-Z0-9\-_]",
        @"[a-zA-Z0-9\-_ \.]",
        "[a-zA-Z.0-9_]",
        "[0-9]",
        @"[^\n\r\u2028\u2029]",
        @"[\\]",
        "[']",
        "[^']",
        "\"{\"",
        "\"}\"",
        "\"false\"",
        "\"null\"",
        "\"true\"",
        "number",
        "string",
        "end of input",
    ];

    /// <summary>PEG.js's "Expected A, B or C" part: descriptions sorted (UTF-16 order), duplicates dropped.</summary>
    public static string Describe(ulong set)
    {
        var list = new List<string>();
        for (var i = 0; i < Descriptions.Length; i++)
        {
            if ((set & (1UL << i)) != 0)
            {
                list.Add(Descriptions[i]);
            }
        }

        list.Sort(string.CompareOrdinal);
        return list.Count switch
        {
            0 => "",
            1 => list[0],
            _ => string.Join(", ", list.Take(list.Count - 1)) + " or " + list[^1],
        };
    }
}
