using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Trellis.Bench.Edge;

/// <summary>What a process costs while it runs: resident memory (VmRSS, and its peak VmHWM, from /proc/PID/status) and CPU
/// (user + system ticks from /proc/PID/stat) over a measured interval.</summary>
public sealed record ProcessFigures(
    string Command,
    bool ExitedEarly,
    int? ExitCode,
    TimeSpan Ran,
    double RssMiB,
    double MaxRssMiB,
    double PeakRssMiB,
    double CpuSeconds,
    double CpuPercent,
    string Errors,
    string? Note = null);

/// <summary>Starts a command, lets it settle, then samples its memory and CPU over an interval; a command that ends
/// sooner (a short run such as <c>trellis-edge info</c>) is sampled until it ends.</summary>
public static class ProcessFootprint
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    /// <param name="settled">Runs once the command has settled, before the measured interval (e.g. to check that the
    /// daemon's link is up); what it returns is reported as the figures' note.</param>
    public static async Task<ProcessFigures> MeasureAsync(
        ProcessStartInfo info, TimeSpan settle, TimeSpan interval, TimeSpan? sampleEvery = null, Func<Task<string>>? settled = null)
    {
        var every = sampleEvery ?? TimeSpan.FromMilliseconds(200);
        info.UseShellExecute = false;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        var command = string.Join(' ', new[] { info.FileName }.Concat(info.ArgumentList));
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{command} did not start");
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                if (e.Data is not null && errors.Length < 4000)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += static (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();

        var rss = new List<double>();
        double peak = 0;
        long ticksAtStart = 0;
        long lastTicks = 0;
        var measuring = TimeSpan.Zero;
        var exitedEarly = false;
        string? note = null;
        try
        {
            // Settle: sample anyway, so a short run still reports what it used.
            var settling = Stopwatch.StartNew();
            while (settling.Elapsed < settle)
            {
                if (!Sample(process.Id, rss, ref peak, out var seen))
                {
                    exitedEarly = true;
                    break;
                }

                lastTicks = seen;
                await Task.Delay(every);
            }

            if (!exitedEarly && settled is not null)
            {
                note = await settled();
            }

            if (!exitedEarly)
            {
                rss.Clear();
                Sample(process.Id, rss, ref peak, out ticksAtStart);
                var measured = Stopwatch.StartNew();
                long ticks = ticksAtStart;
                while (measured.Elapsed < interval)
                {
                    await Task.Delay(every);
                    if (!Sample(process.Id, rss, ref peak, out var now))
                    {
                        exitedEarly = true;
                        break;
                    }

                    ticks = now;
                    lastTicks = now;
                }

                measuring = measured.Elapsed;
                ticksAtStart = ticks - ticksAtStart;
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
        }

        // A run that ended early reports the CPU seen at its last sample (a lower bound): /proc forgets it at the exit.
        var cpu = (exitedEarly ? lastTicks : ticksAtStart) / TicksPerSecond;
        string text;
        lock (errors)
        {
            text = errors.ToString().Trim();
        }

        return new ProcessFigures(
            command,
            exitedEarly,
            exitedEarly ? process.ExitCode : null,
            watch.Elapsed,
            rss.Count == 0 ? double.NaN : Median(rss),
            rss.Count == 0 ? double.NaN : rss.Max(),
            peak,
            cpu,
            exitedEarly || measuring == TimeSpan.Zero ? double.NaN : 100 * cpu / measuring.TotalSeconds,
            text,
            note);
    }

    /// <summary>Runs a short command to its end: its peak RSS and CPU from the kernel's accounting of the finished child
    /// (GNU time's %M, %U, %S), which sampling /proc cannot catch for a run of a few milliseconds; sampled when GNU time is
    /// not installed.</summary>
    public static async Task<ProcessFigures> RunOnceAsync(ProcessStartInfo info)
    {
        const string time = "/usr/bin/time";
        if (!File.Exists(time))
        {
            return await MeasureAsync(info, TimeSpan.FromMinutes(1), TimeSpan.Zero, TimeSpan.FromMilliseconds(5));
        }

        var report = Path.GetTempFileName();
        try
        {
            var wrapped = new ProcessStartInfo(time) { ArgumentList = { "-f", "%e %M %U %S", "-o", report, info.FileName } };
            foreach (var argument in info.ArgumentList)
            {
                wrapped.ArgumentList.Add(argument);
            }

            foreach (var (name, value) in info.Environment)
            {
                wrapped.Environment[name] = value;
            }

            var figures = await MeasureAsync(wrapped, TimeSpan.FromMinutes(1), TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
            var parts = File.ReadAllText(report).Trim().Split('\n')[^1].Split(' ');
            double Part(int i) => double.Parse(parts[i], CultureInfo.InvariantCulture);
            return figures with
            {
                Command = string.Join(' ', new[] { info.FileName }.Concat(info.ArgumentList)),
                Ran = TimeSpan.FromSeconds(Part(0)),
                PeakRssMiB = Part(1) / 1024,
                CpuSeconds = Part(2) + Part(3),
            };
        }
        finally
        {
            File.Delete(report);
        }
    }

    /// <summary>Reads VmRSS and VmHWM (MiB) and utime + stime (ticks); false once the process is gone or a zombie.</summary>
    private static bool Sample(int pid, List<double> rss, ref double peak, out long ticks)
    {
        ticks = 0;
        string status;
        string stat;
        try
        {
            status = File.ReadAllText($"/proc/{pid}/status");
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        // Field 2 (the command name) is in parentheses and may hold spaces: count the fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields[0] == "Z")
        {
            return false;
        }

        ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        if (Kib(status, "VmRSS:") is { } now)
        {
            rss.Add(now / 1024.0);
        }

        if (Kib(status, "VmHWM:") is { } high)
        {
            peak = Math.Max(peak, high / 1024.0);
        }

        return true;
    }

    private static long? Kib(string status, string field)
    {
        var at = status.IndexOf(field, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var end = status.IndexOf('\n', at);
        var value = status[(at + field.Length)..(end < 0 ? status.Length : end)].Trim();
        return long.Parse(value.Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private static double Median(List<double> values) => Harness.Median(values);
}
