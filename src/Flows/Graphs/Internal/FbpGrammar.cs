using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Core.Errors;
using E = Trellis.Flows.Graphs.Internal.FbpExpectation;

namespace Trellis.Flows.Graphs.Internal;

/// <summary>The grammar of fbp 1.8.0 (<c>grammar/fbp.peg</c>) as a hand-written PEG parser over a string: rule for rule
/// the same ordered choices, the same actions at the same moments (also in alternatives that later fail, as the
/// generated PEG.js parser runs them), and the same furthest-failure bookkeeping, so that results, validation errors
/// and syntax error positions and messages are those of the npm parser.</summary>
internal sealed class FbpGrammar
{
    // Names every plain JavaScript object inherits from Object.prototype: fbp's lookups treat them as present.
    private static readonly HashSet<string> Inherited = new(StringComparer.Ordinal)
    {
        "constructor", "__defineGetter__", "__defineSetter__", "hasOwnProperty", "__lookupGetter__", "__lookupSetter__",
        "isPrototypeOf", "propertyIsEnumerable", "toString", "valueOf", "__proto__", "toLocaleString",
    };

    private readonly string _in;
    private readonly bool _caseSensitive;
    private readonly FlowGraph _graph;
    private readonly OrderedDictionary<string, NodeState> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<int, string> _anonymousNames = [];
    private readonly Dictionary<string, (long Number, string? Text)> _anonymousIndexes = new(StringComparer.Ordinal);
    private readonly List<Item> _line = [];
    private readonly List<(int Pos, int Count)> _levels = [];
    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _stringsBySpan;
    private readonly Dictionary<string, string> _folded = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _foldedBySpan;
    private string _defaultInPort;
    private string _defaultOutPort;
    private JsonObject? _properties;
    private Item? _unpaired;
    private (string Name, Comp Comp)? _lastAdded;
    private (int Start, int End, Port Port, bool Found)? _lastPortThenSpaces;
    private bool _prototypeHasComponent;
    private int _pos;
    private int _maxFailPos;
    private ulong _maxFailExpected;

    public FbpGrammar(string input, bool caseSensitive)
    {
        _in = input;
        _caseSensitive = caseSensitive;
        _graph = new FlowGraph { CaseSensitive = caseSensitive };
        _stringsBySpan = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
        _foldedBySpan = _folded.GetAlternateLookup<ReadOnlySpan<char>>();
        _defaultInPort = Fold("IN");
        _defaultOutPort = Fold("OUT");
    }

    public FlowGraph Parse()
    {
        while (Line())
        {
        }

        // As in fbp, the result is built and validated before a leftover (a syntax error) is reported.
        var graph = Result();
        if (_pos == _in.Length)
        {
            return graph;
        }

        Fail(E.EndOfInput);
        throw SyntaxError();
    }

    private enum Kind : byte
    {
        Tgt,
        Src,
        Data,
    }

    /// <summary>A port (process, port name folded as needed, index) or an IIP's data; the <see cref="FlowPortRef"/>
    /// is made only for the items that end up in the graph, not for every attempt a backtrack throws away.</summary>
    private readonly record struct Item(Kind Kind, string? Process, string? Port, int? Index, JsonNode? Data)
    {
        public FlowPortRef ToPortRef() => new(Process!, Port!, Index);
    }

    private sealed class NodeState
    {
        public string? Component { get; set; }

        public JsonObject? Metadata { get; set; }

        public string? MetaText { get; set; }

        public bool MetadataFirst { get; set; }
    }

    private readonly record struct Comp(string Name, string? Meta);

    private readonly record struct Port(string Name, int? Index);

    // ---- failure bookkeeping (peg$fail) ----

    private void Fail(E expected)
    {
        if (_pos < _maxFailPos)
        {
            return;
        }

        if (_pos > _maxFailPos)
        {
            _maxFailPos = _pos;
            _maxFailExpected = 0;
        }

        _maxFailExpected |= 1UL << (int)expected;
    }

    private TrellisException SyntaxError()
    {
        var found = _maxFailPos < _in.Length ? "\"" + EscapeFound(_in[_maxFailPos]) + "\"" : "end of input";
        var (line, column) = Location(_maxFailPos);
        return TrellisException.Invalid(
            $"line {line}, column {column}: Expected {FbpExpectations.Describe(_maxFailExpected)} but {found} found.");
    }

    private TrellisException Invalid(int pos, string message)
    {
        var (line, column) = Location(pos);
        return TrellisException.Invalid($"line {line}, column {column}: {message}");
    }

    /// <summary>Line and column as PEG.js counts them: CR LF is one line break; CR, LF, U+2028 and U+2029 each break.</summary>
    private (int Line, int Column) Location(int pos)
    {
        int line = 1, column = 1;
        var seenCr = false;
        for (var p = 0; p < pos; p++)
        {
            var ch = _in[p];
            if (ch == '\n')
            {
                if (!seenCr)
                {
                    line++;
                }

                column = 1;
                seenCr = false;
            }
            else if (ch is '\r' or '\u2028' or '\u2029')
            {
                line++;
                column = 1;
                seenCr = true;
            }
            else
            {
                column++;
                seenCr = false;
            }
        }

        return (line, column);
    }

    private static string EscapeFound(char ch) => ch switch
    {
        '\\' => "\\\\",
        '"' => "\\\"",
        '\b' => "\\b",
        '\t' => "\\t",
        '\n' => "\\n",
        '\f' => "\\f",
        '\r' => "\\r",
        <= '\x07' or '\x0B' or '\x0E' or '\x0F' => "\\x0" + Hex(ch),
        (>= '\x10' and <= '\x1F') or (>= '\x80' and <= '\xFF') => "\\x" + Hex(ch),
        >= '\u0100' and <= '\u0FFF' => "\\u0" + Hex(ch),
        >= '\u1000' => "\\u" + Hex(ch),
        _ => ch.ToString(),
    };

    private static string Hex(char ch) => ((int)ch).ToString("X", CultureInfo.InvariantCulture);

    // ---- terminals ----

    private bool At(char c) => _pos < _in.Length && _in[_pos] == c;

    private bool Char(char c, E expected)
    {
        if (At(c))
        {
            _pos++;
            return true;
        }

        Fail(expected);
        return false;
    }

    private bool Literal(string literal, E expected)
    {
        if (_in.AsSpan(_pos).StartsWith(literal, StringComparison.Ordinal))
        {
            _pos += literal.Length;
            return true;
        }

        Fail(expected);
        return false;
    }

    /// <summary><c>_ = " "*</c> (never fails).</summary>
    private void Spaces()
    {
        while (At(' '))
        {
            _pos++;
        }

        Fail(E.Space);
    }

    /// <summary><c>__ = " "+</c>.</summary>
    private bool Spaces1()
    {
        if (!Char(' ', E.Space))
        {
            return false;
        }

        Spaces();
        return true;
    }

    private static bool IsNewline(char c) => c is '\n' or '\r' or '\u2028' or '\u2029';

    private bool Newline()
    {
        if (_pos < _in.Length && IsNewline(_in[_pos]))
        {
            _pos++;
            return true;
        }

        Fail(E.Newline);
        return false;
    }

    private static bool IsLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

    private static bool IsDigit(char c) => (uint)(c - '0') <= 9;

    // ---- lines ----

    private bool Line()
    {
        var s0 = _pos;
        Spaces();
        if (Literal("INPORT=", E.Inport))
        {
            if (NodeRef(out var node) && Char('.', E.Dot) && PortName(out var port) && Char(':', E.Colon) && PortName(out var pub))
            {
                Spaces();
                LineTerminator();
                RegisterExport(_graph.Inports, node, port, pub);
                return true;
            }
        }

        _pos = s0;
        Spaces();
        if (Literal("OUTPORT=", E.Outport))
        {
            if (NodeRef(out var node) && Char('.', E.Dot) && PortName(out var port) && Char(':', E.Colon) && PortName(out var pub))
            {
                Spaces();
                LineTerminator();
                RegisterExport(_graph.Outports, node, port, pub);
                return true;
            }
        }

        _pos = s0;
        Spaces();
        if (Literal("DEFAULT_INPORT=", E.DefaultInport) && PortName(out var defaultIn))
        {
            Spaces();
            LineTerminator();
            _defaultInPort = Fold(defaultIn);
            return true;
        }

        _pos = s0;
        Spaces();
        if (Literal("DEFAULT_OUTPORT=", E.DefaultOutport) && PortName(out var defaultOut))
        {
            Spaces();
            LineTerminator();
            _defaultOutPort = Fold(defaultOut);
            return true;
        }

        _pos = s0;
        if (Annotation(out var key, out var value) && Newline())
        {
            RegisterAnnotation(key, value);
            return true;
        }

        _pos = s0;
        if (Comment())
        {
            Newline();
            return true;
        }

        Spaces();
        if (Newline())
        {
            return true;
        }

        _pos = s0;
        Spaces();
        _line.Clear();
        if (Connection(_line, out var isArray))
        {
            Spaces();
            LineTerminator();

            // fbp registers a line's edges only when the connection is an array: a lone destination adds nothing.
            if (isArray)
            {
                RegisterEdges(_line);
            }

            return true;
        }

        _pos = s0;
        return false;
    }

    /// <summary><c>LineTerminator = _ ","? comment? newline?</c> (never fails).</summary>
    private void LineTerminator()
    {
        Spaces();
        Char(',', E.Comma);
        Comment();
        Newline();
    }

    /// <summary><c>comment = _ "#" anychar*</c>.</summary>
    private bool Comment()
    {
        var s0 = _pos;
        Spaces();
        if (!Char('#', E.Hash))
        {
            _pos = s0;
            return false;
        }

        while (_pos < _in.Length && !IsNewline(_in[_pos]))
        {
            _pos++;
        }

        Fail(E.AnyChar);
        return true;
    }

    /// <summary><c>annotation = "#" __ "@" [a-zA-Z0-9\-_]+ __ [a-zA-Z0-9\-_ \.]+</c>.</summary>
    private bool Annotation(out string key, out string value)
    {
        key = value = "";
        var s0 = _pos;
        if (Char('#', E.Hash) && Spaces1() && Char('@', E.At))
        {
            var k = _pos;
            while (_pos < _in.Length && IsKeyChar(_in[_pos]))
            {
                _pos++;
            }

            Fail(E.AnnotationKeyChar);
            if (_pos > k)
            {
                key = Text(k, _pos);
                if (Spaces1())
                {
                    var v = _pos;
                    while (_pos < _in.Length && (IsKeyChar(_in[_pos]) || _in[_pos] is ' ' or '.'))
                    {
                        _pos++;
                    }

                    Fail(E.AnnotationValueChar);
                    if (_pos > v)
                    {
                        value = Text(v, _pos);
                        return true;
                    }
                }
            }
        }

        _pos = s0;
        return false;

        static bool IsKeyChar(char c) => IsLetter(c) || IsDigit(c) || c is '-' or '_';
    }

    // ---- connections ----

    /// <summary><c>connection = source _ "->" _ connection / destination</c>, without recursion: the levels of a
    /// chain are kept in a list, and a failed tail falls back to a destination at the level before, as the
    /// recursive rule does.</summary>
    private bool Connection(List<Item> items, out bool isArray)
    {
        _levels.Clear();
        while (true)
        {
            var s0 = _pos;
            var before = items.Count;
            if (Source(items))
            {
                Spaces();
                if (Literal("->", E.Arrow))
                {
                    Spaces();
                    _levels.Add((s0, before));
                    continue;
                }
            }

            _pos = s0;
            items.RemoveRange(before, items.Count - before);
            while (true)
            {
                if (Destination(items, out var bridged))
                {
                    isArray = _levels.Count > 0 || bridged;
                    return true;
                }

                if (_levels.Count == 0)
                {
                    isArray = false;
                    return false;
                }

                var (pos, count) = _levels[^1];
                _levels.RemoveAt(_levels.Count - 1);
                _pos = pos;
                items.RemoveRange(count, items.Count - count);
            }
        }
    }

    private bool Source(List<Item> items) => Bridge(items) || OutPort(items) || Iip(items);

    private bool Destination(List<Item> items, out bool bridged)
    {
        bridged = false;
        if (InPort(items))
        {
            return true;
        }

        bridged = Bridge(items);
        return bridged;
    }

    /// <summary><c>bridge = port__ node __port / port__? nodeWithComponent __port?</c>.</summary>
    private bool Bridge(List<Item> items)
    {
        var s0 = _pos;
        if (PortThenSpaces(out var x) && NodeRef(out var proc) && SpacesThenPort(out var y))
        {
            items.Add(MakePort(Kind.Tgt, proc, x, _defaultInPort));
            items.Add(MakePort(Kind.Src, proc, y, _defaultOutPort));
            return true;
        }

        _pos = s0;
        var hasIn = PortThenSpaces(out x);
        if (NodeWithComponent(out proc))
        {
            var hasOut = SpacesThenPort(out y);
            items.Add(MakePort(Kind.Tgt, proc, hasIn ? x : null, _defaultInPort));
            items.Add(MakePort(Kind.Src, proc, hasOut ? y : null, _defaultOutPort));
            return true;
        }

        _pos = s0;
        return false;
    }

    /// <summary><c>outport = node __port?</c>.</summary>
    private bool OutPort(List<Item> items)
    {
        if (!NodeRef(out var proc))
        {
            return false;
        }

        var hasPort = SpacesThenPort(out var port);
        items.Add(MakePort(Kind.Src, proc, hasPort ? port : null, _defaultOutPort));
        return true;
    }

    /// <summary><c>inport = port__? node</c>.</summary>
    private bool InPort(List<Item> items)
    {
        var s0 = _pos;
        var hasPort = PortThenSpaces(out var port);
        if (!NodeRef(out var proc))
        {
            _pos = s0;
            return false;
        }

        items.Add(MakePort(Kind.Tgt, proc, hasPort ? port : null, _defaultInPort));
        return true;
    }

    /// <summary>A port item; <paramref name="defaultPort"/> is already folded.</summary>
    private static Item MakePort(Kind kind, string process, Port? port, string defaultPort) =>
        port is { } p ? new Item(kind, process, p.Name, p.Index, null) : new Item(kind, process, defaultPort, null, null);

    /// <summary>A port name folded to lower case unless case sensitive, each distinct name folded once.</summary>
    private string Fold(string name)
    {
        if (_caseSensitive)
        {
            return name;
        }

        if (!_folded.TryGetValue(name, out var folded))
        {
            folded = name.ToLowerInvariant();
            _folded.Add(name, folded);
        }

        return folded;
    }

    /// <summary><see cref="Fold"/> of <c>_in[start..end]</c>, looked up without making a string.</summary>
    private string FoldedText(int start, int end)
    {
        if (_caseSensitive)
        {
            return Text(start, end);
        }

        if (!_foldedBySpan.TryGetValue(_in.AsSpan(start, end - start), out var folded))
        {
            folded = Fold(Text(start, end));
        }

        return folded;
    }

    /// <summary><c>_in[start..end]</c>, the same string object each time the same text is read: a backtrack that
    /// reads a name again allocates nothing.</summary>
    private string Text(int start, int end)
    {
        var span = _in.AsSpan(start, end - start);
        if (!_stringsBySpan.TryGetValue(span, out var text))
        {
            text = span.ToString();
            _strings.Add(text, text);
        }

        return text;
    }

    /// <summary><c>iip = "'" iipchar* "'" / JSON_text</c>; in a quoted IIP only <c>\'</c> is an escape.</summary>
    private bool Iip(List<Item> items)
    {
        var s0 = _pos;
        if (Char('\'', E.Quote))
        {
            StringBuilder? unescaped = null;
            var run = _pos;
            while (true)
            {
                var s = _pos;
                if (At('\\'))
                {
                    _pos++;
                    if (At('\''))
                    {
                        _pos++;
                        (unescaped ??= new StringBuilder()).Append(_in, run, s - run).Append('\'');
                        run = _pos;
                        continue;
                    }

                    Fail(E.QuoteClass);
                    _pos = s;
                }
                else
                {
                    Fail(E.Backslash);
                }

                if (_pos < _in.Length && _in[_pos] != '\'')
                {
                    _pos++;
                    continue;
                }

                Fail(E.NotQuote);
                break;
            }

            var end = _pos;
            if (Char('\'', E.Quote))
            {
                var data = unescaped is null ? _in[run..end] : unescaped.Append(_in, run, end - run).ToString();
                items.Add(new Item(Kind.Data, null, null, null, JsonValue.Create(data)));
                return true;
            }

            _pos = s0;
        }

        if (JsonText(out var value))
        {
            items.Add(new Item(Kind.Data, null, null, null, value));
            return true;
        }

        return false;
    }

    // ---- nodes ----

    /// <summary><c>node = nodeNameAndComponent / nodeName / nodeComponent</c>.</summary>
    private bool NodeRef(out string name) => NodeNameAndComponent(out name) || NodeName(out name) || NodeComponent(out name);

    private bool NodeWithComponent(out string name) => NodeNameAndComponent(out name) || NodeComponent(out name);

    private bool NodeName(out string name)
    {
        name = "";
        if (!(_pos < _in.Length && (IsLetter(_in[_pos]) || _in[_pos] == '_')))
        {
            Fail(E.NameStart);
            return false;
        }

        var start = _pos++;
        while (_pos < _in.Length && (IsLetter(_in[_pos]) || IsDigit(_in[_pos]) || _in[_pos] is '_' or '-'))
        {
            _pos++;
        }

        Fail(E.NodeNameChar);
        name = Text(start, _pos);
        return true;
    }

    private bool NodeNameAndComponent(out string name)
    {
        var s0 = _pos;
        if (NodeName(out name) && Component(out var comp))
        {
            AddNode(name, comp);
            return true;
        }

        _pos = s0;
        return false;
    }

    private bool NodeComponent(out string name)
    {
        var s0 = _pos;
        if (Component(out var comp))
        {
            name = AddAnonymousNode(comp, s0);
            return true;
        }

        name = "";
        return false;
    }

    /// <summary><c>component = "(" [a-zA-Z/\-0-9_]* compMeta? ")"</c>, <c>compMeta = ":" [a-zA-Z/=_,0-9]+</c>.</summary>
    private bool Component(out Comp comp)
    {
        comp = default;
        var s0 = _pos;
        if (!Char('(', E.OpenParen))
        {
            return false;
        }

        var start = _pos;
        while (_pos < _in.Length && (IsLetter(_in[_pos]) || IsDigit(_in[_pos]) || _in[_pos] is '/' or '-' or '_'))
        {
            _pos++;
        }

        Fail(E.ComponentChar);
        var name = Text(start, _pos);
        string? meta = null;
        var m = _pos;
        if (Char(':', E.Colon))
        {
            var metaStart = _pos;
            while (_pos < _in.Length && (IsLetter(_in[_pos]) || IsDigit(_in[_pos]) || _in[_pos] is '/' or '=' or '_' or ','))
            {
                _pos++;
            }

            Fail(E.MetaChar);
            if (_pos > metaStart)
            {
                meta = Text(metaStart, _pos);
            }
            else
            {
                _pos = m;
            }
        }

        if (Char(')', E.CloseParen))
        {
            comp = new Comp(name, meta);
            return true;
        }

        _pos = s0;
        return false;
    }

    private void AddNode(string name, Comp comp)
    {
        // A backtrack re-reads the same node: adding it again right after changes nothing.
        if (_lastAdded == (name, comp))
        {
            return;
        }

        _lastAdded = (name, comp);
        if (Inherited.Contains(name))
        {
            // nodes[name] is the inherited member: fbp writes the component onto it, so it never shows in the result
            // (and for __proto__ every object inherits that component from then on).
            _prototypeHasComponent |= name == "__proto__" && comp.Name.Length > 0;
            return;
        }

        if (!_nodes.TryGetValue(name, out var node))
        {
            _nodes.Add(name, node = new NodeState());
        }

        if (comp.Name.Length > 0)
        {
            node.Component = comp.Name;
        }

        if (comp.Meta is { } meta)
        {
            if (node.Metadata is null && node.Component is null)
            {
                node.MetadataFirst = true;
            }

            if (node.MetaText != meta)
            {
                node.Metadata = Metadata(meta);
                node.MetaText = meta;
            }
        }
    }

    private static JsonObject Metadata(string meta)
    {
        // meta.split(",") and each entry.split("="): "a=b=c" is a = b, a lone "r" is routes = r.
        var metadata = new JsonObject();
        foreach (var range in meta.AsSpan().Split(','))
        {
            var entry = meta.AsSpan(range);
            var equals = entry.IndexOf('=');
            var key = equals < 0 ? "routes" : entry[..equals].ToString();
            var value = equals < 0 ? entry : entry[(equals + 1)..];
            if (value.IndexOf('=') is var second and >= 0)
            {
                value = value[..second];
            }

            if (key == "__proto__")
            {
                continue;
            }

            metadata[key] = key is "x" or "y" ? ParseFloat(value) : JsonValue.Create(value.ToString());
        }

        return metadata;
    }

    /// <summary>JavaScript's parseFloat for the characters metadata may hold (letters, digits, <c>/</c>, <c>_</c>);
    /// NaN and Infinity become null, as JSON.stringify prints them.</summary>
    private static JsonNode? ParseFloat(ReadOnlySpan<char> value)
    {
        if (value.StartsWith("Infinity", StringComparison.Ordinal))
        {
            return null;
        }

        var end = 0;
        while (end < value.Length && IsDigit(value[end]))
        {
            end++;
        }

        if (end == 0)
        {
            return null;
        }

        if (end + 1 < value.Length && value[end] is 'e' or 'E' && IsDigit(value[end + 1]))
        {
            end += 2;
            while (end < value.Length && IsDigit(value[end]))
            {
                end++;
            }
        }

        var number = double.Parse(value[..end], NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(number) ? JsonValue.Create(number) : null;
    }

    private string AddAnonymousNode(Comp comp, int offset)
    {
        if (_anonymousNames.TryGetValue(offset, out var known))
        {
            return known;
        }

        var componentName = ReplaceFirstNonAlphanumericRun(comp.Name);
        (long Number, string? Text) index;
        if (_anonymousIndexes.TryGetValue(componentName, out var previous))
        {
            index = previous.Text is { } text ? (0, text + "1") : (previous.Number + 1, null);
        }
        else if (Inherited.Contains(componentName))
        {
            // (anonymousIndexes[name] || 0) + 1 on an inherited function concatenates its source text.
            var function = componentName == "constructor" ? "Object" : componentName;
            index = (0, $"function {function}() {{ [native code] }}1");
        }
        else
        {
            index = (1, null);
        }

        _anonymousIndexes[componentName] = index;
        var name = "_" + componentName + "_" + (index.Text ?? index.Number.ToString(CultureInfo.InvariantCulture));
        _anonymousNames[offset] = name;
        AddNode(name, comp);
        return name;
    }

    /// <summary><c>comp.replace(/[^a-zA-Z0-9]+/, "_")</c>: only the first run is replaced.</summary>
    private static string ReplaceFirstNonAlphanumericRun(string name)
    {
        var start = 0;
        while (start < name.Length && (IsLetter(name[start]) || IsDigit(name[start])))
        {
            start++;
        }

        if (start == name.Length)
        {
            return name;
        }

        var end = start;
        while (end < name.Length && !(IsLetter(name[end]) || IsDigit(name[end])))
        {
            end++;
        }

        return string.Concat(name.AsSpan(0, start), "_", name.AsSpan(end));
    }

    // ---- ports ----

    private bool PortName(out string name)
    {
        var start = _pos;
        if (!ScanPortName())
        {
            name = "";
            return false;
        }

        name = Text(start, _pos);
        return true;
    }

    /// <summary><c>portName = [a-zA-Z_] [a-zA-Z.0-9_]*</c>, read without making a string.</summary>
    private bool ScanPortName()
    {
        if (!(_pos < _in.Length && (IsLetter(_in[_pos]) || _in[_pos] == '_')))
        {
            Fail(E.NameStart);
            return false;
        }

        _pos++;
        while (_pos < _in.Length && (IsLetter(_in[_pos]) || IsDigit(_in[_pos]) || _in[_pos] is '.' or '_'))
        {
            _pos++;
        }

        Fail(E.PortNameChar);
        return true;
    }

    /// <summary><c>port = portName portIndex?</c>, the name folded unless case sensitive.</summary>
    private bool PortAt(out Port port)
    {
        port = default;
        var start = _pos;
        if (!ScanPortName())
        {
            return false;
        }

        var name = FoldedText(start, _pos);
        int? index = null;
        var s = _pos;
        if (Char('[', E.OpenBracket))
        {
            var digits = _pos;
            while (_pos < _in.Length && IsDigit(_in[_pos]))
            {
                _pos++;
            }

            Fail(E.Digit);
            if (_pos > digits && Char(']', E.CloseBracket))
            {
                if (!int.TryParse(_in.AsSpan(digits, _pos - 1 - digits), NumberStyles.None, CultureInfo.InvariantCulture, out var i))
                {
                    throw Invalid(digits, $"the port index {_in[digits..(_pos - 1)]} is too large (at most {int.MaxValue})");
                }

                index = i;
            }
            else
            {
                _pos = s;
            }
        }

        port = new Port(name, index);
        return true;
    }

    /// <summary><c>port__ = port __</c>. Bridge's second alternative and inport read it again where bridge's first
    /// one did: the last reading is reused. That is exact, failures included: a rule read again at the same place
    /// makes the same failure calls, and those changed the furthest failure the first time or never will.</summary>
    private bool PortThenSpaces(out Port port)
    {
        var s0 = _pos;
        if (_lastPortThenSpaces is { } last && last.Start == s0)
        {
            port = last.Port;
            _pos = last.End;
            return last.Found;
        }

        var found = PortAt(out port) && Spaces1();
        if (!found)
        {
            _pos = s0;
        }

        _lastPortThenSpaces = (s0, _pos, port, found);
        return found;
    }

    private bool SpacesThenPort(out Port port)
    {
        var s0 = _pos;
        port = default;
        if (Spaces1() && PortAt(out port))
        {
            return true;
        }

        _pos = s0;
        return false;
    }

    // ---- JSON IIPs (RFC 7159 grammar of fbp.peg) ----

    private bool JsonText(out JsonNode? value)
    {
        var s0 = _pos;
        Whitespace();
        if (Value(out value))
        {
            Whitespace();
            return true;
        }

        _pos = s0;
        return false;
    }

    /// <summary><c>ws = [ \t\n\r]*</c>, a named rule: its failures are never reported.</summary>
    private void Whitespace()
    {
        while (_pos < _in.Length && _in[_pos] is ' ' or '\t' or '\n' or '\r')
        {
            _pos++;
        }
    }

    private bool Value(out JsonNode? value)
    {
        value = null;
        if (Literal("false", E.False))
        {
            value = JsonValue.Create(false);
            return true;
        }

        if (Literal("null", E.Null))
        {
            return true;
        }

        if (Literal("true", E.True))
        {
            value = JsonValue.Create(true);
            return true;
        }

        if (JsonObjectValue(out var o))
        {
            value = o;
            return true;
        }

        if (JsonArrayValue(out var a))
        {
            value = a;
            return true;
        }

        return Number(out value) || JsonString(out value);
    }

    private bool Structural(char c, E expected)
    {
        var s0 = _pos;
        Whitespace();
        if (Char(c, expected))
        {
            Whitespace();
            return true;
        }

        _pos = s0;
        return false;
    }

    private bool JsonObjectValue(out JsonObject? result)
    {
        result = null;
        var s0 = _pos;
        if (!Structural('{', E.OpenBrace))
        {
            return false;
        }

        var o = new JsonObject();
        if (Member(out var name, out var value))
        {
            Set(o, name, value);
            while (true)
            {
                var s = _pos;
                if (Structural(',', E.Comma) && Member(out name, out value))
                {
                    Set(o, name, value);
                    continue;
                }

                _pos = s;
                break;
            }
        }

        if (Structural('}', E.CloseBrace))
        {
            result = o;
            return true;
        }

        _pos = s0;
        return false;

        static void Set(JsonObject o, string name, JsonNode? value)
        {
            // result["__proto__"] = value sets the prototype (or nothing): no own property.
            if (name != "__proto__")
            {
                o[name] = value;
            }
        }
    }

    private bool Member(out string name, out JsonNode? value)
    {
        name = "";
        value = null;
        var s0 = _pos;
        if (JsonString(out var key) && Structural(':', E.Colon) && Value(out value))
        {
            name = key!.GetValue<string>();
            return true;
        }

        _pos = s0;
        return false;
    }

    private bool JsonArrayValue(out JsonArray? result)
    {
        result = null;
        var s0 = _pos;
        if (!Structural('[', E.OpenBracket))
        {
            return false;
        }

        var a = new JsonArray();
        if (Value(out var value))
        {
            a.Add(value);
            while (true)
            {
                var s = _pos;
                if (Structural(',', E.Comma) && Value(out value))
                {
                    a.Add(value);
                    continue;
                }

                _pos = s;
                break;
            }
        }

        if (Structural(']', E.CloseBracket))
        {
            result = a;
            return true;
        }

        _pos = s0;
        return false;
    }

    /// <summary><c>number = "-"? int frac? exp?</c> read with parseFloat, a named rule.</summary>
    private bool Number(out JsonNode? value)
    {
        value = null;
        var s0 = _pos;
        if (At('-'))
        {
            _pos++;
        }

        if (At('0'))
        {
            _pos++;
        }
        else if (_pos < _in.Length && _in[_pos] is >= '1' and <= '9')
        {
            _pos++;
            SkipDigits();
        }
        else
        {
            _pos = s0;
            Fail(E.Number);
            return false;
        }

        if (At('.') && _pos + 1 < _in.Length && IsDigit(_in[_pos + 1]))
        {
            _pos++;
            SkipDigits();
        }

        if (_pos < _in.Length && _in[_pos] is 'e' or 'E')
        {
            var e = _pos++;
            if (_pos < _in.Length && _in[_pos] is '+' or '-')
            {
                _pos++;
            }

            if (_pos < _in.Length && IsDigit(_in[_pos]))
            {
                SkipDigits();
            }
            else
            {
                _pos = e;
            }
        }

        var number = double.Parse(_in.AsSpan(s0, _pos - s0), NumberStyles.Float, CultureInfo.InvariantCulture);
        value = double.IsFinite(number) ? JsonValue.Create(number) : null;
        return true;

        void SkipDigits()
        {
            while (_pos < _in.Length && IsDigit(_in[_pos]))
            {
                _pos++;
            }
        }
    }

    /// <summary><c>string = '"' char* '"'</c> with JSON's escapes, a named rule.</summary>
    private bool JsonString(out JsonNode? value)
    {
        value = null;
        var s0 = _pos;
        if (!At('"'))
        {
            Fail(E.String);
            return false;
        }

        _pos++;
        StringBuilder? text = null;
        var run = _pos;
        while (_pos < _in.Length)
        {
            var c = _in[_pos];
            if (c == '"')
            {
                var s = text is null ? _in[run.._pos] : text.Append(_in, run, _pos - run).ToString();
                _pos++;
                value = JsonValue.Create(s);
                return true;
            }

            if (c < ' ')
            {
                break;
            }

            if (c != '\\')
            {
                _pos++;
                continue;
            }

            if (_pos + 1 >= _in.Length)
            {
                break;
            }

            char decoded;
            var length = 2;
            switch (_in[_pos + 1])
            {
                case '"': decoded = '"'; break;
                case '\\': decoded = '\\'; break;
                case '/': decoded = '/'; break;
                case 'b': decoded = '\b'; break;
                case 'f': decoded = '\f'; break;
                case 'n': decoded = '\n'; break;
                case 'r': decoded = '\r'; break;
                case 't': decoded = '\t'; break;
                case 'u' when _pos + 6 <= _in.Length && ushort.TryParse(_in.AsSpan(_pos + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                    decoded = (char)code;
                    length = 6;
                    break;
                default:
                    decoded = '\0';
                    length = 0;
                    break;
            }

            if (length == 0)
            {
                break;
            }

            (text ??= new StringBuilder()).Append(_in, run, _pos - run).Append(decoded);
            _pos += length;
            run = _pos;
        }

        _pos = s0;
        Fail(E.String);
        return false;
    }

    // ---- actions ----

    private void RegisterExport(OrderedDictionary<string, FlowExport> ports, string node, string port, string pub)
    {
        pub = Fold(pub);
        port = Fold(port);

        // ports["__proto__"] = {...} replaces the prototype: no own property, nothing printed or checked.
        if (pub != "__proto__")
        {
            ports[pub] = new FlowExport(node, port);
        }
    }

    private void RegisterAnnotation(string key, string value)
    {
        _properties ??= [];
        if (key == "runtime")
        {
            _properties["environment"] = new JsonObject { ["type"] = value };
        }
        else if (key != "__proto__")
        {
            _properties[key] = value;
        }
    }

    /// <summary>fbp's processEdges, run as each line's edges are registered rather than over all of them at the end:
    /// pair each source (or IIP) with the target right after it, across lines; a paired target starts afresh.</summary>
    private void RegisterEdges(List<Item> items)
    {
        foreach (var to in items)
        {
            if (_unpaired is { } from && from.Kind != Kind.Tgt && to.Kind == Kind.Tgt)
            {
                _graph.Connections.Add(from.Kind == Kind.Src
                    ? new FlowConnection(from.ToPortRef(), to.ToPortRef())
                    : new FlowConnection(null, to.ToPortRef(), from.Data));
                _unpaired = null;
            }
            else
            {
                _unpaired = to;
            }
        }
    }

    private FlowGraph Result()
    {
        var graph = _graph;
        graph.Processes.EnsureCapacity(_nodes.Count);
        foreach (var (name, node) in _nodes)
        {
            var process = new FlowProcess(node.Component ?? "", node.Metadata);
            graph.Processes.Add(name, process);
            if (node.MetadataFirst && node.Metadata is not null)
            {
                graph.MarkMetadataFirst(process);
            }
        }

        if (_properties is not null)
        {
            graph.Properties = _properties;
            graph.ShowEmptyProperties = true;
        }

        Validate(graph);
        return graph;
    }

    /// <summary>fbp's validateContents, with its messages.</summary>
    private void Validate(FlowGraph graph)
    {
        if (!_prototypeHasComponent)
        {
            foreach (var (name, node) in _nodes)
            {
                if (node.Component is null)
                {
                    throw TrellisException.Invalid($"Node \"{name}\" does not have a component defined");
                }
            }
        }

        foreach (var (port, e) in graph.Inports)
        {
            if (!Defined(e.Process))
            {
                throw TrellisException.Invalid($"Inport \"{port}\" is connected to an undefined target node \"{e.Process}\"");
            }
        }

        foreach (var (port, e) in graph.Outports)
        {
            if (!Defined(e.Process))
            {
                throw TrellisException.Invalid($"Outport \"{port}\" is connected to an undefined source node \"{e.Process}\"");
            }
        }

        foreach (var c in graph.Connections)
        {
            if (!Defined(c.Tgt.Process))
            {
                throw TrellisException.Invalid(c.Src is null
                    ? $"IIP containing \"{JsNumber.ToJsString(c.Data)}\" is connected to an undefined target node \"{c.Tgt.Process}\""
                    : $"Edge from \"{c.Src.Process}\" port \"{c.Src.Port}\" is connected to an undefined target node \"{c.Tgt.Process}\"");
            }

            if (c.Src is not null && !Defined(c.Src.Process))
            {
                throw TrellisException.Invalid($"Edge to \"{c.Tgt.Process}\" port \"{c.Tgt.Port}\" is connected to an undefined source node \"{c.Src.Process}\"");
            }
        }
    }

    private bool Defined(string node) => _nodes.ContainsKey(node) || Inherited.Contains(node);
}
