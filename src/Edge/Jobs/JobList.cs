using System.Globalization;
using System.Text;
using Trellis.Edge.Local;

namespace Trellis.Edge.Jobs;

/// <summary>gshell's joblist: every job as a YAML document (name, command, restart, rm, group and, unless tiny, its
/// files in base64) that <c>joblist load</c> re-creates — how jobs move between devices.</summary>
/// <remarks>No YAML library: the emitter writes exactly this schema with double-quoted strings, and the parser reads
/// it (plus plain and single-quoted scalars, comments and flow lists of commands); anything else is a 400 naming the line.</remarks>
public static class JobList
{
    public static string Emit(IEnumerable<JobSpec> jobs)
    {
        var text = new StringBuilder("# trellis-edge joblist\n");
        var any = false;
        foreach (var job in jobs)
        {
            if (!any)
            {
                text.Append("jobs:\n");
                any = true;
            }

            text.Append("  - name: ").Append(Quote(job.Name ?? Path.GetFileName(job.Command[0]))).Append('\n');
            text.Append("    command:\n");
            foreach (var arg in job.Command)
            {
                text.Append("      - ").Append(Quote(arg)).Append('\n');
            }

            text.Append("    restart: ").Append(job.Restart.ToString(CultureInfo.InvariantCulture)).Append('\n');
            text.Append("    rm: ").Append(job.Remove ? "true" : "false").Append('\n');
            if (job.Group is { } group)
            {
                text.Append("    group: ").Append(Quote(group)).Append('\n');
            }

            if (job.Files is { Count: > 0 } files)
            {
                text.Append("    files:\n");
                foreach (var (path, content) in files.OrderBy(static f => f.Key, StringComparer.Ordinal))
                {
                    text.Append("      ").Append(Quote(path)).Append(": ").Append(Quote(Convert.ToBase64String(content))).Append('\n');
                }
            }
        }

        if (!any)
        {
            text.Append("jobs: []\n");
        }

        return text.ToString();
    }

    /// <summary>Reads a joblist; a 400 <see cref="LocalApiException"/> naming the line when it is malformed.</summary>
    public static IReadOnlyList<JobSpec> Parse(string yaml)
    {
        var jobs = new List<JobSpec>();
        var lines = yaml.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var sawJobs = false;
        Draft? job = null;
        string? list = null; // "command" or "files" while their block goes on
        var listIndent = -1;

        for (var i = 0; i < lines.Length; i++)
        {
            var number = i + 1;
            var raw = lines[i];
            if (raw.Contains('\t', StringComparison.Ordinal) && raw.TrimStart(' ').StartsWith('\t'))
            {
                throw Error(number, "tabs are not allowed for indentation");
            }

            var line = StripComment(raw, number).TrimEnd();
            if (line.Trim().Length == 0 || line.Trim() is "---" or "...")
            {
                continue;
            }

            var indent = line.Length - line.TrimStart(' ').Length;
            var content = line[indent..];

            if (indent == 0)
            {
                Close();
                if (content is "jobs:" or "jobs: []")
                {
                    if (sawJobs)
                    {
                        throw Error(number, "'jobs' appears twice");
                    }

                    sawJobs = true;
                    continue;
                }

                throw Error(number, $"expected 'jobs:', found '{content}'");
            }

            if (!sawJobs)
            {
                throw Error(number, "expected 'jobs:' before any job");
            }

            if (list is not null && indent > listIndent)
            {
                if (list == "command")
                {
                    if (!content.StartsWith("- ", StringComparison.Ordinal) && content != "-")
                    {
                        throw Error(number, "expected '- argument' in the command list");
                    }

                    job!.Command.Add(Scalar(content[1..].Trim(), number));
                }
                else
                {
                    var (key, value) = KeyValue(content, number);
                    if (value.Length == 0)
                    {
                        throw Error(number, $"file '{key}' has no content");
                    }

                    try
                    {
                        job!.Files[key] = Convert.FromBase64String(Scalar(value, number));
                    }
                    catch (FormatException)
                    {
                        throw Error(number, $"the content of file '{key}' is not base64");
                    }
                }

                continue;
            }

            list = null;
            if (content.StartsWith("- ", StringComparison.Ordinal))
            {
                Close();
                job = new Draft(number);
                var rest = content[2..].TrimStart();
                indent += content.Length - rest.Length;
                content = rest;
            }
            else if (job is null)
            {
                throw Error(number, "expected '- name: ...' to begin a job");
            }

            var (field, text) = KeyValue(content, number);
            if (!job.Seen.Add(field))
            {
                throw Error(number, $"'{field}' appears twice in one job");
            }

            switch (field)
            {
                case "name":
                    job.Name = Scalar(text, number);
                    break;
                case "group":
                    job.Group = Scalar(text, number);
                    break;
                case "restart":
                    if (!int.TryParse(Scalar(text, number), NumberStyles.None, CultureInfo.InvariantCulture, out var restart))
                    {
                        throw Error(number, $"restart: expected a whole number ≥ 0, found '{text}'");
                    }

                    job.Restart = restart;
                    break;
                case "rm":
                    job.Remove = Scalar(text, number) switch
                    {
                        "true" => true,
                        "false" => false,
                        var other => throw Error(number, $"rm: expected true or false, found '{other}'"),
                    };
                    break;
                case "command" when text.Length == 0:
                    list = "command";
                    listIndent = indent;
                    break;
                case "command" when text.StartsWith('[') && text.EndsWith(']'):
                    foreach (var item in SplitFlow(text[1..^1], number))
                    {
                        job.Command.Add(Scalar(item, number));
                    }

                    break;
                case "command":
                    throw Error(number, "command: expected a list ('- exe' lines or [exe, args...])");
                case "files" when text.Length == 0:
                    list = "files";
                    listIndent = indent;
                    break;
                case "files" when text == "{}":
                    break;
                case "files":
                    throw Error(number, "files: expected '\"path\": \"base64\"' lines below it");
                default:
                    throw Error(number, $"unknown field '{field}' (expected name, command, restart, rm, group, files)");
            }
        }

        Close();
        if (!sawJobs)
        {
            throw Error(lines.Length, "the document has no 'jobs:' list");
        }

        return jobs;

        void Close()
        {
            if (job is null)
            {
                return;
            }

            if (job.Command.Count == 0)
            {
                throw Error(job.Line, "the job has no command");
            }

            var spec = new JobSpec(
                job.Name is { Length: > 0 } ? job.Name : null, job.Command, job.Restart, job.Remove,
                job.Group is { Length: > 0 } ? job.Group : null, job.Files.Count > 0 ? job.Files : null);
            try
            {
                spec.Validate();
            }
            catch (LocalApiException e)
            {
                throw Error(job.Line, e.Message);
            }

            jobs.Add(spec);
            job = null;
            list = null;
        }
    }

    /// <summary>A YAML double-quoted scalar (JSON's escapes, which YAML shares).</summary>
    public static string Quote(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\uFEFF')
                    {
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        return text.Append('"').ToString();
    }

    private static (string Key, string Value) KeyValue(string content, int number)
    {
        string key;
        int end;
        if (content.StartsWith('"') || content.StartsWith('\''))
        {
            end = QuotedEnd(content, 0, number);
            key = Scalar(content[..(end + 1)], number);
            end++;
        }
        else
        {
            end = content.IndexOf(':', StringComparison.Ordinal);
            if (end < 0)
            {
                throw Error(number, $"expected 'key: value', found '{content}'");
            }

            key = content[..end].Trim();
        }

        if (end >= content.Length || content[end] != ':' || (end + 1 < content.Length && content[end + 1] != ' '))
        {
            throw Error(number, $"expected 'key: value', found '{content}'");
        }

        return (key, content[(end + 1)..].Trim());
    }

    private static string Scalar(string text, int number)
    {
        if (text.Length == 0)
        {
            return "";
        }

        if (text[0] == '"')
        {
            if (QuotedEnd(text, 0, number) != text.Length - 1)
            {
                throw Error(number, $"unexpected text after the quoted string {text}");
            }

            return Unescape(text[1..^1], number);
        }

        if (text[0] == '\'')
        {
            if (QuotedEnd(text, 0, number) != text.Length - 1)
            {
                throw Error(number, $"unexpected text after the quoted string {text}");
            }

            return text[1..^1].Replace("''", "'", StringComparison.Ordinal);
        }

        if (text[0] is '[' or '{' or '&' or '*' or '!' or '|' or '>' or '%' or '@' or '`')
        {
            throw Error(number, $"'{text}' is not a plain value here; quote it");
        }

        return text;
    }

    /// <summary>The index of the quote that closes the string opening at <paramref name="start"/>.</summary>
    private static int QuotedEnd(string text, int start, int number)
    {
        var quote = text[start];
        for (var i = start + 1; i < text.Length; i++)
        {
            if (quote == '"' && text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == quote)
            {
                if (quote == '\'' && i + 1 < text.Length && text[i + 1] == '\'')
                {
                    i++;
                    continue;
                }

                return i;
            }
        }

        throw Error(number, "a quoted string is not closed");
    }

    private static string Unescape(string text, int number)
    {
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                result.Append(text[i]);
                continue;
            }

            if (++i >= text.Length)
            {
                throw Error(number, "a string ends with a lone backslash");
            }

            switch (text[i])
            {
                case '"': result.Append('"'); break;
                case '\\': result.Append('\\'); break;
                case '/': result.Append('/'); break;
                case 'n': result.Append('\n'); break;
                case 'r': result.Append('\r'); break;
                case 't': result.Append('\t'); break;
                case '0': result.Append('\0'); break;
                case 'u' when i + 4 < text.Length && int.TryParse(text.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code):
                    result.Append((char)code);
                    i += 4;
                    break;
                default:
                    throw Error(number, $"unknown escape '\\{text[i]}'");
            }
        }

        return result.ToString();
    }

    private static string StripComment(string line, int number)
    {
        var quote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote == '"' && c == '\\')
            {
                i++;
            }
            else if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
            }
            else if (c is '"' or '\'' && (i == 0 || line[i - 1] is ' ' or ':' or '-' or '[' or ','))
            {
                quote = c;
            }
            else if (c == '#' && (i == 0 || line[i - 1] == ' '))
            {
                return line[..i];
            }
        }

        return line;
    }

    private static List<string> SplitFlow(string text, int number)
    {
        var items = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && text[i] == ' ')
            {
                i++;
            }

            if (i >= text.Length)
            {
                break;
            }

            int end;
            if (text[i] is '"' or '\'')
            {
                end = QuotedEnd(text, i, number) + 1;
            }
            else
            {
                end = text.IndexOf(',', i);
                end = end < 0 ? text.Length : end;
            }

            items.Add(text[i..end].Trim());
            while (end < text.Length && text[end] == ' ')
            {
                end++;
            }

            if (end < text.Length && text[end] != ',')
            {
                throw Error(number, "expected ',' between the command's elements");
            }

            i = end + 1;
        }

        return items;
    }

    private static LocalApiException Error(int line, string message) => new(400, $"joblist line {line}: {message}");

    private sealed class Draft(int line)
    {
        public int Line { get; } = line;

        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);

        public string? Name { get; set; }

        public List<string> Command { get; } = [];

        public int Restart { get; set; }

        public bool Remove { get; set; }

        public string? Group { get; set; }

        public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);
    }
}
