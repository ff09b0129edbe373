using System.Diagnostics;
using System.Text;

namespace Trellis.Api.Tests.Flows;

/// <summary>Runs one of msgflo's own command-line tools (<c>msgflo-setup</c>, <c>msgflo-dump-message</c>, … in
/// tests/Interop/node/node_modules/.bin) to completion; past its time limit it is killed and the test fails naming it.</summary>
internal static class MsgFloTool
{
    private const string Hint = "run scripts/deps.sh (apt-get install -y nodejs npm; npm ci in tests/Interop/node)";

    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public override string ToString() => $"exit {ExitCode}; stdout: {Out}; stderr: {Err}";
    }

    public static async Task<Result> RunAsync(string tool, IReadOnlyList<string> args, string workingDirectory, TimeSpan timeout)
    {
        var path = Path.Combine(MsgFloParticipant.RepoRoot(), "tests", "Interop", "node", "node_modules", ".bin", tool);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{tool} is not installed at {path}: {Hint}");
        }

        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(path);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start node for {tool}: {Hint}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var deadline = new CancellationTokenSource(timeout);
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0} s; stdout: {stdout}; stderr: {stderr}");
        }

        process.WaitForExit(); // drains the redirected output
        return new Result(process.ExitCode, stdout.ToString(), stderr.ToString());
    }
}
