using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Publish;

/// <summary>The agent as it ships: the executable scripts/edge-publish.sh builds for a runtime identifier (cached by a hash
/// of its sources), and how to run it — natively, or under qemu user-mode emulation when it is built for another
/// architecture (linux-arm64 here: <c>qemu-aarch64-static -L /usr/aarch64-linux-gnu</c>, from scripts/deps.sh).</summary>
public sealed class PublishedAgent
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<PublishedAgent>>> s_published = new();

    private PublishedAgent(string rid, string path)
    {
        Rid = rid;
        Path = path;
    }

    /// <summary>The runtime identifier it was built for: linux-x64 or linux-arm64.</summary>
    public string Rid { get; }

    /// <summary>The executable.</summary>
    public string Path { get; }

    /// <summary>Whether it runs under emulation on this machine.</summary>
    public bool Emulated => !string.Equals(Rid, RuntimeInformation.RuntimeIdentifier, StringComparison.Ordinal);

    /// <summary>The repository's root (where scripts/ is).</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Publishes for <paramref name="rid"/> once per test run (and only when its sources changed since the cached
    /// build); fails with the script's own error otherwise.</summary>
    public static Task<PublishedAgent> GetAsync(string rid) =>
        s_published.GetOrAdd(rid, static r => new Lazy<Task<PublishedAgent>>(() => PublishAsync(r))).Value;

    private static async Task<PublishedAgent> PublishAsync(string rid)
    {
        var script = System.IO.Path.Combine(RepositoryRoot, "scripts", "edge-publish.sh");
        var info = new ProcessStartInfo("bash") { ArgumentList = { script, rid } };
        var (code, stdout, stderr) = await RunAsync(info, TimeSpan.FromMinutes(10), $"scripts/edge-publish.sh {rid}");
        var path = stdout.Trim();
        if (code != 0 || !File.Exists(path))
        {
            throw new InvalidOperationException($"scripts/edge-publish.sh {rid} failed (exit {code}): {stderr.Trim()}");
        }

        return new PublishedAgent(rid, path);
    }

    /// <summary>How to start it with <paramref name="arguments"/> and extra <paramref name="environment"/>: the executable
    /// itself, or the emulator with the executable as its first argument. Output is redirected.</summary>
    public ProcessStartInfo StartInfo(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        ProcessStartInfo info;
        if (Emulated)
        {
            var (emulator, sysroot) = Emulator();
            info = new ProcessStartInfo(emulator) { ArgumentList = { "-L", sysroot, Path } };

            // The emulated runtime has no ICU to load (the build is invariant anyway; this covers a non-invariant one).
            info.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        }
        else
        {
            info = new ProcessStartInfo(Path);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        return info;
    }

    /// <summary>Starts it (a long-running command such as <c>daemon</c>); the caller reads its output and stops it.</summary>
    public Process Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        Process.Start(StartInfo(arguments, environment)) ?? throw new InvalidOperationException($"{Path} did not start");

    /// <summary>Runs a command to its end and returns its exit code and output.</summary>
    public Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var args = arguments.ToList();
        return RunAsync(StartInfo(args, environment), timeout ?? TimeSpan.FromMinutes(1), $"trellis-edge {string.Join(' ', args)} ({Rid}{(Emulated ? ", emulated" : "")})");
    }

    /// <summary>The user-mode emulator and the library root for this agent's architecture; fails naming scripts/deps.sh
    /// when they are not installed.</summary>
    public (string Emulator, string SysRoot) Emulator()
    {
        var arch = Rid switch
        {
            "linux-arm64" => "aarch64",
            "linux-x64" => "x86_64",
            _ => throw new NotSupportedException($"no emulator known for {Rid}"),
        };
        var emulator = $"/usr/bin/qemu-{arch}-static";
        var sysroot = $"/usr/{arch}-linux-gnu";
        if (!File.Exists(emulator) || !Directory.Exists(System.IO.Path.Combine(sysroot, "lib")))
        {
            throw new InvalidOperationException(
                $"The {Rid} agent runs under emulation here, but {emulator} or {sysroot}/lib is missing: run scripts/deps.sh (as root) to install qemu-user-static and the {arch} libraries.");
        }

        return (emulator, sysroot);
    }

    private static async Task<(int, string, string)> RunAsync(ProcessStartInfo info, TimeSpan timeout, string what)
    {
        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{what} did not start");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().Within(what, timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout.Within($"the output of {what}"), await stderr.Within($"the errors of {what}"));
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "scripts", "edge-publish.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"scripts/edge-publish.sh not found above {AppContext.BaseDirectory}");
    }

    public override string ToString() => $"{Rid} agent {Path}";
}
