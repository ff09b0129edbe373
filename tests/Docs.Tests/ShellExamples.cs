using System.Text.RegularExpressions;

namespace Trellis.Docs.Tests;

/// <summary>How a shell example of a README is treated: run in sequence with the others, or left out for a stated reason.</summary>
public enum ExampleKind
{
    /// <summary><c>```sh</c>: commands a reader runs as written, in order, against the all-in-one process.</summary>
    Run,

    /// <summary><c>```sh no-run: reason</c>: not a runnable example here (the server itself, the test command, a
    /// benchmark, a build).</summary>
    NoRun,

    /// <summary><c>```sh pending: reason</c>: meant to run, waiting for a change elsewhere; reported, not run.</summary>
    Pending,
}

/// <summary>One fenced shell block of a Markdown file: where it starts, how it is classified and why, and its text.</summary>
public sealed record ShellExample(string File, int Line, ExampleKind Kind, string Reason, string Text)
{
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>Finds the shell examples of a Markdown file (fenced blocks whose language is a shell) and reads their
/// classification from the rest of the info string; a block that is neither plain <c>sh</c> nor classified with a reason
/// is an error, so a new example is either run or visibly excused.</summary>
public static partial class ShellExamples
{
    /// <summary>Info-string languages that mean shell commands.</summary>
    private static readonly HashSet<string> ShellLanguages = new(StringComparer.OrdinalIgnoreCase) { "sh", "bash", "shell", "console", "zsh" };

    /// <summary>Reads the shell blocks of <paramref name="markdown"/>; problems (unclassified or malformed blocks) come
    /// back in <paramref name="errors"/>, each naming the file and line.</summary>
    public static IReadOnlyList<ShellExample> Parse(string file, string markdown, out IReadOnlyList<string> errors)
    {
        var examples = new List<ShellExample>();
        var problems = new List<string>();
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success)
            {
                continue;
            }

            var fence = open.Groups["fence"].Value;
            var info = open.Groups["info"].Value.Trim();
            var start = i + 1;
            var body = new List<string>();
            for (i++; i < lines.Length && !IsClosing(lines[i], fence); i++)
            {
                body.Add(lines[i]);
            }

            if (i == lines.Length)
            {
                problems.Add($"{file}:{start}: the fenced block is never closed");
            }

            var language = info.Split(' ', 2)[0];
            if (!ShellLanguages.Contains(language))
            {
                continue;
            }

            var classification = info[language.Length..].Trim();
            var text = string.Join('\n', body);
            if (classification.Length == 0)
            {
                examples.Add(new ShellExample(file, start, ExampleKind.Run, "", text));
                continue;
            }

            var match = Classification().Match(classification);
            if (!match.Success)
            {
                problems.Add($"{file}:{start}: ```{info} is not a classification; write ```{language} for an example that runs, " +
                    $"or ```{language} no-run: <reason> / ```{language} pending: <reason>");
                continue;
            }

            var kind = match.Groups["kind"].Value == "no-run" ? ExampleKind.NoRun : ExampleKind.Pending;
            examples.Add(new ShellExample(file, start, kind, match.Groups["reason"].Value.Trim(), text));
        }

        errors = problems;
        return examples;
    }

    private static bool IsClosing(string line, string fence)
    {
        var trimmed = line.Trim();
        return trimmed.Length >= fence.Length && trimmed.All(c => c == fence[0]);
    }

    [GeneratedRegex(@"^\s{0,3}(?<fence>`{3,}|~{3,})(?<info>[^`]*)$")]
    private static partial Regex Fence();

    /// <summary>A classification needs a reason that says something (at least a few words' worth of characters).</summary>
    [GeneratedRegex(@"^(?<kind>no-run|pending):\s*(?<reason>\S.{9,})$")]
    private static partial Regex Classification();
}
