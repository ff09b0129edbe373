using System.CommandLine;
using System.Text;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;

namespace Trellis.Cli;

/// <summary><c>trellis graph parse FILE [--case-sensitive]</c>: a .fbp file printed as its JSON graph, exactly as the npm
/// <c>fbp</c> command prints it; a .json graph is read and printed again in the same form.</summary>
internal static class GraphCommand
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "a .fbp file (or a .json graph)" };
        var caseSensitive = new Option<bool>("--case-sensitive") { Description = "keep the case of port names (fbp folds them to lower case)" };
        var parse = new Command("parse", "Print the JSON graph of a .fbp file, as the fbp parser prints it") { file, caseSensitive };
        parse.SetAction(result =>
        {
            using var stdout = Console.OpenStandardOutput();
            return Run(result.GetValue(file)!, result.GetValue(caseSensitive), stdout, Console.Error);
        });
        return new Command("graph", "Work with flow graphs (.fbp and JSON)") { parse };
    }

    /// <summary>Exit code 0 with the graph on <paramref name="stdout"/>; 1 when the file cannot be read; 2 for bad input.</summary>
    public static int Run(string path, bool caseSensitive, Stream stdout, TextWriter stderr)
    {
        string text;
        try
        {
            // Decoded as Node's readFileSync(file, 'utf-8') does: a byte order mark stays in the text.
            text = Utf8.GetString(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine(e is FileNotFoundException or DirectoryNotFoundException ? $"File {Path.GetFullPath(path)} not found" : $"{path}: {e.Message}");
            return 1;
        }

        FlowGraph graph;
        try
        {
            graph = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? FlowGraph.FromJson(text) : FbpParser.Parse(text, caseSensitive);
        }
        catch (TrellisException e)
        {
            stderr.WriteLine($"{path}: {e.Message}");
            return 2;
        }

        var bytes = Utf8.GetBytes(graph.ToJson() + "\n");
        stdout.Write(bytes);
        stdout.Flush();
        return 0;
    }
}
