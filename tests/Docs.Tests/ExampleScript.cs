using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Trellis.Docs.Tests;

/// <summary>What running a README's examples came to.</summary>
public sealed record ExampleRun(int ExitCode, bool TimedOut, string Output, string Script);

/// <summary>Runs the runnable examples of one README in order, in one <c>bash</c>, from the repository root, as a reader
/// pasting them into one terminal would; only the documented ports are changed, to the ones this run bound.</summary>
/// <remarks>
/// The script runs with <c>set -euo pipefail</c> and <c>curl</c> resolved to a wrapper that adds <c>--fail-with-body</c>,
/// so a failing command or an HTTP error status fails the run; xtrace shows each command in the output. Background jobs an
/// example starts (a node, a watch) are ended when the script ends.
/// </remarks>
public static partial class ExampleScript
{
    public static async Task<ExampleRun> RunAsync(IEnumerable<ShellExample> examples, AllInOne silo, TimeSpan timeout)
    {
        var work = System.IO.Directory.CreateTempSubdirectory("trellis-docs-run-").FullName;
        try
        {
            var bin = Path.Combine(work, "bin");
            System.IO.Directory.CreateDirectory(bin);
            var curl = Path.Combine(bin, "curl");
            await File.WriteAllTextAsync(curl, $"#!/bin/sh\nexec {Quote(Which("curl"))} --fail-with-body \"$@\"\n");
            if (!OperatingSystem.IsWindows()) // the examples are bash, run on Linux; the guard is for the analyzer
            {
                File.SetUnixFileMode(curl, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            var script = Compose(examples, silo.HttpPort, silo.GrpcPort, AllInOne.FreePort());
            var path = Path.Combine(work, "examples.sh");
            await File.WriteAllTextAsync(path, script);

            var info = new ProcessStartInfo("bash")
            {
                ArgumentList = { "--noprofile", "--norc", path },
                WorkingDirectory = Repository.Root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            info.Environment["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}";
            using var process = new Process { StartInfo = info };
            var output = new StringBuilder();
            process.OutputDataReceived += (_, e) => Append(output, e.Data);
            process.ErrorDataReceived += (_, e) => Append(output, e.Data);
            process.Start();
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            var timedOut = false;
            try
            {
                await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(timeout);
            }
            catch (TimeoutException)
            {
                timedOut = true;
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            }

            // The redirected streams are complete only after this second wait (see Process.WaitForExit).
            process.WaitForExit();
            string text;
            lock (output)
            {
                text = output.ToString();
            }

            return new ExampleRun(timedOut ? -1 : process.ExitCode, timedOut, text, script);
        }
        finally
        {
            System.IO.Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The script: a prelude, then each example's text with the documented ports replaced, behind a marker line
    /// naming its README and line.</summary>
    public static string Compose(IEnumerable<ShellExample> examples, int httpPort, int grpcPort, int nodePort)
    {
        var script = new StringBuilder("""
            set -euo pipefail
            exec 2>&1
            # End what the examples left running in the background (a node, a watch stream).
            trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
            PS4='+ '
            set -x

            """);
        foreach (var example in examples)
        {
            script.Append("\n: '>>> ").Append(example.File).Append(':').Append(example.Line).Append("'\n");
            var text = DocumentedHttp().Replace(example.Text, $"127.0.0.1:{httpPort}");
            text = DocumentedGrpc().Replace(text, $"127.0.0.1:{grpcPort}");
            text = DocumentedNode().Replace(text, nodePort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            script.Append(text).Append('\n');
        }

        return script.ToString();
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    private static string Which(string command)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, command);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"{command} is not on PATH; the README examples use it (scripts/deps.sh installs it)");
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The default HTTP listener as the READMEs write it.</summary>
    [GeneratedRegex(@"(?:localhost|127\.0\.0\.1):5080(?!\d)")]
    private static partial Regex DocumentedHttp();

    /// <summary>The default gRPC listener as the READMEs write it.</summary>
    [GeneratedRegex(@"(?:localhost|127\.0\.0\.1):5081(?!\d)")]
    private static partial Regex DocumentedGrpc();

    /// <summary>The port of the node an example starts itself, wherever it appears as a number (a flag, a JSON field, a URL).</summary>
    [GeneratedRegex(@"(?<![\d.])8181(?!\d)")]
    private static partial Regex DocumentedNode();
}
