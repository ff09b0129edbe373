using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Trellis.Api.Hosting;

namespace Trellis.Bench.ConsoleIdle;

/// <summary>console-idle: CPU time and allocated bytes of an idle all-in-one silo over N seconds with the console mapped
/// and nobody watching, against the same process with <c>Trellis:Console:Enabled=false</c>, and (for scale) with one
/// viewer connected. Each variant runs in a process of its own, interleaved round by round.</summary>
public static class IdleConsole
{
    private static readonly string[] Variants = ["off", "idle", "watched"];

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Option(args, "--idle-seconds", 10);
        System.Console.WriteLine($"console-idle: an idle silo for {seconds} s per run, {Harness.Rounds} rounds of {string.Join(", ", Variants)}");
        var results = Variants.ToDictionary(v => v, _ => new List<(double CpuMs, double AllocKb)>());
        for (var round = 0; round < Harness.Rounds; round++)
        {
            foreach (var variant in Variants)
            {
                var r = await RunChildAsync(variant, seconds);
                results[variant].Add(r);
                System.Console.WriteLine($"  round {round + 1} {variant,-8} cpu {r.CpuMs,8:0.0} ms  allocated {r.AllocKb,10:0.0} KB");
            }
        }

        var off = results["off"];
        System.Console.WriteLine($"{"variant",-8} {"cpu ms (median)",16} {"allocated KB (median)",22} {"cpu vs off",11} {"alloc vs off",13}");
        foreach (var variant in Variants)
        {
            var cpu = Harness.Median(results[variant].Select(r => r.CpuMs));
            var alloc = Harness.Median(results[variant].Select(r => r.AllocKb));
            System.Console.WriteLine(
                $"{variant,-8} {cpu,16:0.0} {alloc,22:0.0} {cpu / Harness.Median(off.Select(r => r.CpuMs)),10:0.00}x {alloc / Harness.Median(off.Select(r => r.AllocKb)),12:0.00}x");
        }

        return 0;
    }

    private static async Task<(double CpuMs, double AllocKb)> RunChildAsync(string variant, int seconds)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            info.ArgumentList.Add(typeof(IdleConsole).Assembly.Location);
        }

        foreach (var arg in (string[])["console-idle-child", variant, seconds.ToString(CultureInfo.InvariantCulture)])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the console-idle child.");
        (double, double)? result = null;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("IDLERESULT ", StringComparison.Ordinal))
            {
                var f = line.Split(' ');
                result = (double.Parse(f[1], CultureInfo.InvariantCulture), double.Parse(f[2], CultureInfo.InvariantCulture));
            }
            else
            {
                System.Console.WriteLine($"  [{variant}] {line}");
            }
        }

        await process.WaitForExitAsync();
        return process.ExitCode == 0 && result is { } r ? r : throw new InvalidOperationException($"the console-idle child ({variant}) failed with exit code {process.ExitCode}");
    }

    /// <summary>The child: <c>console-idle-child off|idle|watched SECONDS</c>; prints <c>IDLERESULT cpu_ms allocated_kb</c>.</summary>
    public static async Task<int> ChildMainAsync(string[] args)
    {
        var variant = args[1];
        var seconds = int.Parse(args[2], CultureInfo.InvariantCulture);
        var ports = FreePorts(3);
        var app = TrellisApp.Build([], "silo", new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = $"http://127.0.0.1:{ports[0]}",
            ["Trellis:Grpc:Url"] = "",
            ["Trellis:Cluster:SiloPort"] = ports[1].ToString(CultureInfo.InvariantCulture),
            ["Trellis:Cluster:GatewayPort"] = ports[2].ToString(CultureInfo.InvariantCulture),
            ["Trellis:Cluster:ClusterId"] = $"bench-{Guid.NewGuid():N}",
            ["Trellis:Storage:Provider"] = "Memory",
            ["Trellis:Console:Enabled"] = variant == "off" ? "false" : "true",
        }, builder => builder.Logging.ClearProviders());
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[0]}") };
        using var stop = new CancellationTokenSource();
        Task? viewer = null;
        if (variant == "watched")
        {
            viewer = WatchAsync(http, stop.Token);
        }

        // Start-up work (grain activations, the first membership rounds, JIT) settles before the measured window.
        await Task.Delay(TimeSpan.FromSeconds(5));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        var cpu0 = self.TotalProcessorTime;
        var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        self.Refresh();
        var cpu1 = self.TotalProcessorTime;
        var alloc1 = GC.GetTotalAllocatedBytes(precise: true);
        await stop.CancelAsync();
        if (viewer is not null)
        {
            await viewer;
        }

        await app.StopAsync();
        await app.DisposeAsync();
        System.Console.WriteLine(FormattableString.Invariant($"IDLERESULT {(cpu1 - cpu0).TotalMilliseconds:0.0} {(alloc1 - alloc0) / 1024.0:0.0}"));
        return 0;
    }

    private static async Task WatchAsync(HttpClient http, CancellationToken stop)
    {
        try
        {
            using var response = await http.GetAsync("/console/events", HttpCompletionOption.ResponseHeadersRead, stop);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop));
            while (await reader.ReadLineAsync(stop) is not null)
            {
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var l in listeners)
        {
            l.Start();
        }

        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners)
        {
            l.Stop();
        }

        return ports;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
