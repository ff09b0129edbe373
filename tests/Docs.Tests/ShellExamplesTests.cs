namespace Trellis.Docs.Tests;

/// <summary>The classification of shell blocks: plain <c>sh</c> runs, <c>no-run</c> and <c>pending</c> need a reason,
/// anything else is refused naming the file and line.</summary>
public sealed class ShellExamplesTests
{
    [Fact]
    public void Blocks_are_run_excused_with_a_reason_or_refused()
    {
        const string Markdown = """
            # Title
            ```sh
            curl -s localhost:5080/healthz
            ```
            ```csharp
            var x = 1;
            ```
            ```sh no-run: the server itself, which the test starts
            dotnet run --project src/Silo
            ```
            ```bash pending: its section is being rewritten
            grpcurl -plaintext 127.0.0.1:5081 list
            ```
            ```sh no-run
            make
            ```
            ```shell skip this one
            rm -rf /
            ```
            ```
            plain text, not a shell block
            ```
            """;

        var examples = ShellExamples.Parse("X.md", Markdown, out var errors);

        Assert.Equal(
            [("X.md:2", ExampleKind.Run, "", "curl -s localhost:5080/healthz"),
             ("X.md:8", ExampleKind.NoRun, "the server itself, which the test starts", "dotnet run --project src/Silo"),
             ("X.md:11", ExampleKind.Pending, "its section is being rewritten", "grpcurl -plaintext 127.0.0.1:5081 list")],
            examples.Select(e => (e.ToString(), e.Kind, e.Reason, e.Text)));
        Assert.Equal(2, errors.Count);
        Assert.StartsWith("X.md:14: ```sh no-run is not a classification", errors[0]);
        Assert.StartsWith("X.md:17: ```shell skip this one is not a classification", errors[1]);
    }

    [Fact]
    public void An_unclosed_block_is_an_error()
    {
        ShellExamples.Parse("Y.md", "text\n```sh\necho hi\n", out var errors);
        Assert.Equal(["Y.md:2: the fenced block is never closed"], errors);
    }

    [Fact]
    public void Only_the_documented_ports_are_replaced()
    {
        var example = new ShellExample("Z.md", 1, ExampleKind.Run, "",
            "curl localhost:5080/a 127.0.0.1:5081 -d '{\"port\":8181}' --port 8181 localhost:50801 18181 x:5080");
        var script = ExampleScript.Compose([example], httpPort: 20001, grpcPort: 20002, nodePort: 20003);
        Assert.Contains("curl 127.0.0.1:20001/a 127.0.0.1:20002 -d '{\"port\":20003}' --port 20003 localhost:50801 18181 x:5080", script);
        Assert.Contains(": '>>> Z.md:1'", script);
    }
}
