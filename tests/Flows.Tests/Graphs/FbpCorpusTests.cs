using System.Text;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;
using Xunit;

namespace Trellis.Flows.Tests.Graphs;

/// <summary>Every file of Graphs/Corpus through the real <c>fbp</c> command and through <see cref="FbpParser"/>, folded
/// and case sensitive: the same JSON byte for byte; for broken-*.fbp both refuse it, with the same message (and for a
/// syntax error the same line and column).</summary>
public sealed class FbpCorpusTests
{
    public static TheoryData<string, bool> Files()
    {
        var data = new TheoryData<string, bool>();
        foreach (var file in Directory.GetFiles(NodeFbp.Corpus, "*.fbp").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file), false);
            data.Add(Path.GetFileName(file), true);
        }

        return data;
    }

    [Fact]
    public void The_corpus_has_valid_and_broken_files()
    {
        var files = Directory.GetFiles(NodeFbp.Corpus, "*.fbp").Select(Path.GetFileName).ToList();
        Assert.True(files.Count(f => f!.StartsWith("broken-", StringComparison.Ordinal)) >= 10, $"too few broken files in {NodeFbp.Corpus}");
        Assert.True(files.Count(f => !f!.StartsWith("broken-", StringComparison.Ordinal)) >= 20, $"too few valid files in {NodeFbp.Corpus}");
    }

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Parses_as_the_npm_fbp_parser_does(string name, bool caseSensitive)
    {
        var path = Path.Combine(NodeFbp.Corpus, name);
        var text = new UTF8Encoding(false).GetString(await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken));
        var fbp = await NodeFbp.CliAsync(path, caseSensitive);
        if (!name.StartsWith("broken-", StringComparison.Ordinal))
        {
            Assert.True(fbp.ExitCode == 0, $"fbp refused {name}: {fbp.Stderr}");
            Assert.Equal(fbp.Stdout, FbpParser.Parse(text, caseSensitive).ToJson() + "\n");
            return;
        }

        Assert.True(fbp.ExitCode != 0, $"fbp accepted the broken file {name}:\n{fbp.Stdout}");
        var ours = Assert.Throws<TrellisException>(() => FbpParser.Parse(text, caseSensitive));
        Assert.Equal(ErrorKind.InvalidArgument, ours.Kind);
        var theirs = await NodeFbp.ErrorAsync(path, caseSensitive);
        if (theirs.StartsWith("line ", StringComparison.Ordinal))
        {
            Assert.Equal(theirs, ours.Message);
        }
        else if (theirs.StartsWith("Error: ", StringComparison.Ordinal))
        {
            Assert.Equal(theirs["Error: ".Length..], ours.Message);
        }
        else
        {
            // fbp itself crashes (a TypeError for an IIP of a falsy value to an undefined node); ours names the node.
            Assert.StartsWith("TypeError: ", theirs);
            Assert.Contains("undefined target node", ours.Message);
        }
    }
}
