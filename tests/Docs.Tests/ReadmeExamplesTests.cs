namespace Trellis.Docs.Tests;

/// <summary>The shell examples of README.md and of every project README run as written, in order, against a live
/// all-in-one process; every other shell block says why it does not run.</summary>
public sealed class ReadmeExamplesTests(ITestOutputHelper output)
{
    // A bound for a script that hangs, not a timing: the main README runs some 60 commands, each starting a .NET process.
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(5);

    public static TheoryData<string> Readmes => [.. Repository.Readmes()];

    [Theory]
    [MemberData(nameof(Readmes))]
    public async Task Shell_examples_are_classified_and_the_runnable_ones_run_as_written(string readme)
    {
        var examples = ShellExamples.Parse(readme, await File.ReadAllTextAsync(Path.Combine(Repository.Root, readme), TestContext.Current.CancellationToken), out var errors);
        Assert.True(errors.Count == 0, $"{readme} has shell blocks that are neither runnable examples nor classified:\n{string.Join('\n', errors)}");
        foreach (var excused in examples.Where(e => e.Kind != ExampleKind.Run))
        {
            output.WriteLine($"{excused}: {(excused.Kind == ExampleKind.NoRun ? "no-run" : "pending")}: {excused.Reason}");
        }

        var runnable = examples.Where(e => e.Kind == ExampleKind.Run).ToArray();
        if (runnable.Length == 0)
        {
            output.WriteLine($"{readme}: no runnable examples");
            return;
        }

        await using var silo = await AllInOne.StartAsync();
        var run = await ExampleScript.RunAsync(runnable, silo, ScriptTimeout);
        output.WriteLine(run.Output);
        Assert.True(run.ExitCode == 0 && !run.TimedOut,
            $"the examples of {readme} ({string.Join(", ", runnable.Select(e => $"line {e.Line}"))}) " +
            (run.TimedOut ? $"did not finish within {ScriptTimeout.TotalSeconds:0} s" : $"failed with exit code {run.ExitCode}") +
            $"; the last command is the last '+' line below.\n--- output\n{Tail(run.Output, 80)}\n--- the all-in-one process\n{Tail(silo.Log, 40)}");
    }

    [Fact]
    public void The_main_README_has_runnable_examples_for_nodes_and_apps()
    {
        // Guards the test above against passing vacuously by everything being excused.
        var examples = ShellExamples.Parse("README.md", File.ReadAllText(Path.Combine(Repository.Root, "README.md")), out _);
        var runnable = string.Join('\n', examples.Where(e => e.Kind == ExampleKind.Run).Select(e => e.Text));
        Assert.Contains("/nodes", runnable);
        Assert.Contains("/apps", runnable);
    }

    private static string Tail(string text, int lines)
    {
        var all = text.TrimEnd().Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
}
