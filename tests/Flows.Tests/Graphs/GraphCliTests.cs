using Trellis.TestKit;
using Xunit;

namespace Trellis.Flows.Tests.Graphs;

/// <summary><c>trellis graph parse</c>, the built command run as a process, against the real <c>fbp</c> command.</summary>
public sealed class GraphCliTests
{
    private static Task<(int ExitCode, string Stdout, string Stderr)> TrellisAsync(params string[] args) =>
        NodeFbp.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "trellis.dll"), .. args]);

    [Theory]
    [InlineData("msgflo.fbp", false)]
    [InlineData("case-folding.fbp", true)]
    [InlineData("json-odd.fbp", false)]
    public async Task Prints_what_fbp_prints(string name, bool caseSensitive)
    {
        var path = Path.Combine(NodeFbp.Corpus, name);
        string[] flag = caseSensitive ? ["--case-sensitive"] : [];

        var fbp = await NodeFbp.CliAsync(path, caseSensitive);
        var ours = await TrellisAsync(["graph", "parse", path, .. flag]);

        Assert.True(fbp.ExitCode == 0, fbp.Stderr);
        Assert.True(ours.ExitCode == 0, ours.Stderr);
        Assert.Equal(fbp.Stdout, ours.Stdout);
    }

    [Fact]
    public async Task Reads_a_json_graph_and_prints_it_as_fbp_would()
    {
        using var folder = new TempFolder();
        var fbp = await NodeFbp.CliAsync(Path.Combine(NodeFbp.Corpus, "node-metadata.fbp"), caseSensitive: false);
        var json = Path.Combine(folder.Path, "graph.json");
        await File.WriteAllTextAsync(json, fbp.Stdout, TestContext.Current.CancellationToken);

        var ours = await TrellisAsync("graph", "parse", json);

        Assert.True(ours.ExitCode == 0, ours.Stderr);
        Assert.Equal(fbp.Stdout, ours.Stdout);
    }

    [Fact]
    public async Task Bad_input_exits_2_with_the_place_on_stderr()
    {
        var ours = await TrellisAsync("graph", "parse", Path.Combine(NodeFbp.Corpus, "broken-crlf-line-col.fbp"));

        Assert.Equal(2, ours.ExitCode);
        Assert.Empty(ours.Stdout);
        Assert.Contains("line 3, column 12: Expected", ours.Stderr);
    }

    [Fact]
    public async Task A_missing_file_exits_1()
    {
        var ours = await TrellisAsync("graph", "parse", Path.Combine(NodeFbp.Corpus, $"missing-{Guid.NewGuid():N}.fbp"));

        Assert.Equal(1, ours.ExitCode);
        Assert.Contains("not found", ours.Stderr);
    }
}
