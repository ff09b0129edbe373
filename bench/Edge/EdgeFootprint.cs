using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Trellis.Bench.Edge;

/// <summary>footprint: what the published edge agent costs on a device — its size, a short command's peak memory and
/// time, and the idle daemon's resident memory and CPU (issue 12: RSS ≤ 40 MB on linux-x64, ~0 CPU), natively and for
/// linux-arm64 under qemu. A <c>sleep</c> measured the same way is the floor.</summary>
public static class EdgeFootprint
{
    public static async Task<int> RunAsync(string[] args)
    {
        var settle = TimeSpan.FromSeconds(Number(args, "--footprint-settle", "FOOTPRINT_SETTLE", 5));
        var interval = TimeSpan.FromSeconds(Number(args, "--footprint-interval", "FOOTPRINT_INTERVAL", 10));
        var rids = Text(args, "--footprint-rids", "FOOTPRINT_RIDS") ?? "linux-x64,linux-arm64";

        // The long-running command; {home} becomes a fresh work directory. By default the daemon links to a gateway the
        // bench hosts (the all-in-one process, a token issued for the device) and the link is checked to be up before the
        // interval; --footprint-args runs another command instead (e.g. "daemon --home {home} --gateway URL --token T").
        var custom = Text(args, "--footprint-args", "FOOTPRINT_ARGS");
        await using var gateway = custom is null ? await EdgeGateway.StartAsync() : null;

        Console.WriteLine($"footprint: settle {settle.TotalSeconds:0} s, then RSS and CPU sampled over {interval.TotalSeconds:0} s (RSS median / max, peak = VmHWM)");
        var exit = 0;
        Print("floor", "sleep", await ProcessFootprint.MeasureAsync(new ProcessStartInfo("sleep", "3600"), settle, interval));

        foreach (var rid in rids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var agent = await EdgeBinary.PublishAsync(rid);
            Console.WriteLine($"footprint {rid}: {agent.Path}, {new FileInfo(agent.Path).Length / 1048576.0:0.0} MiB{(agent.Emulated ? " (run under qemu: the figures include the emulator)" : "")}");

            var info = await ProcessFootprint.RunOnceAsync(agent.StartInfo(["info"]));
            Print(rid, "info", info);
            exit |= info.ExitCode == 0 ? 0 : 1;

            var home = Directory.CreateTempSubdirectory("trellis-footprint-").FullName;
            try
            {
                List<string> command;
                Func<Task<string>>? check = null;
                string shown;
                if (gateway is not null)
                {
                    var provider = AgentProcess.NewProvider("fp");
                    var token = await gateway.IssueTokenAsync(provider);
                    var httpPort = FreePort.Tcp();
                    command = AgentProcess.Arguments(home, provider, httpPort, FreePort.Udp(), gateway.GrpcAddress, token);
                    check = () => LinkUpAsync(httpPort, agent.Emulated ? TimeSpan.FromSeconds(120) : TimeSpan.FromSeconds(30));
                    shown = "daemon, link up to the bench's gateway";
                }
                else
                {
                    command = [.. custom!.Replace("{home}", home, StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries)];
                    shown = string.Join(' ', command).Replace(home, "{home}", StringComparison.Ordinal);
                }

                var figures = await ProcessFootprint.MeasureAsync(
                    agent.StartInfo(command, new Dictionary<string, string> { ["TRELLIS_EDGE_NOUPDATE"] = "1" }), settle, interval, settled: check);
                Print(rid, shown, figures);
                if (figures.ExitedEarly)
                {
                    Console.WriteLine($"footprint {rid}: the command exited with {figures.ExitCode} after {figures.Ran.TotalSeconds:0.0} s, before it was measured: {FirstLine(figures.Errors)}");
                    exit = 1;
                }
                else if (figures.Note is { } note && !note.StartsWith("link up", StringComparison.Ordinal))
                {
                    exit = 1;
                }
            }
            finally
            {
                Directory.Delete(home, recursive: true);
            }
        }

        return exit;
    }

    /// <summary>Waits until the agent's /v1/info shows its link up; says how long it took, or what it showed instead.</summary>
    private static async Task<string> LinkUpAsync(int httpPort, TimeSpan within)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        var watch = Stopwatch.StartNew();
        var last = "no answer";
        while (watch.Elapsed < within)
        {
            try
            {
                last = await http.GetStringAsync(new Uri($"http://127.0.0.1:{httpPort}/v1/info"));
                if ((string?)System.Text.Json.Nodes.JsonNode.Parse(last)?["link"] == "up")
                {
                    return watch.Elapsed < TimeSpan.FromSeconds(0.5) ? "link up" : $"link up (after {watch.Elapsed.TotalSeconds:0.0} s more)";
                }
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }

            await Task.Delay(200);
        }

        return $"link NOT up within {within.TotalSeconds:0} s: {last}";
    }

    private static void Print(string rid, string what, ProcessFigures f) => Console.WriteLine(f.ExitedEarly
        ? string.Create(CultureInfo.InvariantCulture, $"footprint {rid} {what}: exit {f.ExitCode} in {(f.Ran.TotalMilliseconds < 10 ? "< 10" : f.Ran.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture))} ms, peak RSS {f.PeakRssMiB:0.0} MiB, CPU {f.CpuSeconds * 1000:0} ms")
        : string.Create(CultureInfo.InvariantCulture, $"footprint {rid} {what}: RSS {f.RssMiB:0.0} / {f.MaxRssMiB:0.0} MiB, peak {f.PeakRssMiB:0.0} MiB, CPU {f.CpuPercent:0.00} % ({f.CpuSeconds * 1000:0} ms){(f.Note is null ? "" : $"; {f.Note}")}"));

    private static string FirstLine(string text) => text.Length == 0 ? "(nothing on stderr)" : text.Split('\n')[0];

    private static string? Text(string[] args, string option, string variable)
    {
        var at = Array.IndexOf(args, option);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null;
    }

    private static double Number(string[] args, string option, string variable, double fallback) =>
        Text(args, option, variable) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;
}

/// <summary>The agent as scripts/edge-publish.sh builds it for a runtime identifier, and how to start it: natively, or
/// under <c>qemu-aarch64-static -L /usr/aarch64-linux-gnu</c> for linux-arm64 on an x64 machine.</summary>
public sealed class EdgeBinary
{
    private EdgeBinary(string rid, string path)
    {
        Rid = rid;
        Path = path;
    }

    public string Rid { get; }

    public string Path { get; }

    public bool Emulated => !string.Equals(Rid, RuntimeInformation.RuntimeIdentifier, StringComparison.Ordinal);

    public static async Task<EdgeBinary> PublishAsync(string rid)
    {
        var script = System.IO.Path.Combine(Root(), "scripts", "edge-publish.sh");
        var info = new ProcessStartInfo("bash") { ArgumentList = { script, rid }, RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{script} did not start");
        var path = (await process.StandardOutput.ReadToEndAsync()).Trim();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 && File.Exists(path)
            ? new EdgeBinary(rid, path)
            : throw new InvalidOperationException($"scripts/edge-publish.sh {rid} failed with exit code {process.ExitCode} (its errors are above)");
    }

    public ProcessStartInfo StartInfo(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        ProcessStartInfo info;
        if (Emulated)
        {
            var arch = Rid == "linux-arm64" ? "aarch64" : "x86_64";
            var emulator = $"/usr/bin/qemu-{arch}-static";
            if (!File.Exists(emulator))
            {
                throw new InvalidOperationException($"{emulator} is missing: run scripts/deps.sh (as root)");
            }

            info = new ProcessStartInfo(emulator) { ArgumentList = { "-L", $"/usr/{arch}-linux-gnu", Path } };
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

        return info;
    }

    private static string Root()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "scripts", "edge-publish.sh")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("scripts/edge-publish.sh not found above the current or the bench's directory");
    }
}
