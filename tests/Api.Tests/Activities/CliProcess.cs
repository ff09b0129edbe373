using System.Collections.Concurrent;
using System.Diagnostics;

namespace Trellis.Api.Tests.Activities;

/// <summary>The built <c>trellis</c> CLI (src/Cli's trellis.dll, of the tests' configuration) run as a process of its own, for the verbs that
/// run until stopped (<c>trellis host</c>, <c>trellis activity start</c>): its output is kept for failure messages, and
/// it can be terminated (SIGTERM, as Ctrl+C or a service manager stops it) or killed (SIGKILL, as a crash or a lost
/// machine ends it). Disposing kills what is still running, children included.</summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private CliProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>What the process printed so far (stdout and stderr, in arrival order).</summary>
    public string Output => string.Join("\n", _output);

    public static CliProcess Start(params string[] args)
    {
        // The CLI's own output directory: the copy beside the tests lacks what the tests get from ASP.NET Core's shared
        // framework (Microsoft.Extensions.Logging.Abstractions, …), which the CLI, a console program, carries itself.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var dll = Path.Combine(ActivityTesting.RepoRoot(), "src", "Cli", "bin", configuration, "net10.0", "trellis.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"the trellis CLI is not built at {dll} (building the tests builds it: they reference src/Cli)");
        }

        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) cli._output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) cli._output.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Sends SIGTERM and waits for the process to exit; returns its exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync();
        }

        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"trellis (pid {Id}) did not exit within {timeout.TotalSeconds:0} s of SIGTERM; output: {Output}");
        }

        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    /// <summary>Kills the process and its children at once (SIGKILL): nothing it runs gets to say goodbye.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await KillAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // it exited meanwhile
        }
        finally
        {
            _process.Dispose();
        }
    }
}
