using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Trellis.Bench.Gateway;

/// <summary>What one wrk run measured.</summary>
/// <param name="SocketErrors">wrk's socket error line, if it printed one (timeouts under overload).</param>
public sealed record WrkResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Requests, string? SocketErrors);

/// <summary>Runs wrk (an external, closed-loop HTTP/1.1 load generator written in C) against a URL with a POST body,
/// so the load generator does not share the bench process's thread pool and GC with the servers it measures.</summary>
public static partial class Wrk
{
    public const string Binary = "/usr/bin/wrk";

    /// <summary>Writes the Lua script that makes every request a POST of <paramref name="body"/>.</summary>
    public static string WriteScript(string directory, string name, byte[] body, string? bearerToken)
    {
        var script = new StringBuilder();
        script.Append("wrk.method = \"POST\"\n");
        script.Append(CultureInfo.InvariantCulture, $"wrk.body = {LuaString(Encoding.UTF8.GetString(body))}\n");
        script.Append("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
        if (bearerToken is not null)
        {
            script.Append(CultureInfo.InvariantCulture, $"wrk.headers[\"Authorization\"] = {LuaString("Bearer " + bearerToken)}\n");
        }

        // Count answers other than 200 (wrk only counts non-2xx/3xx), so a failing path is never taken for a fast one.
        script.Append("""
            local failed = 0
            response = function(status, headers, body)
              if status ~= 200 then failed = failed + 1 end
            end
            done = function(summary, latency, requests)
              io.write(string.format("failed: %d\n", failed))
            end

            """);
        var path = Path.Combine(directory, name + ".lua");
        File.WriteAllText(path, script.ToString());
        return path;
    }

    /// <summary>Runs <c>wrk -t1 -c{connections} -d{seconds}s --latency -s script url</c>.</summary>
    public static async Task<WrkResult> RunAsync(Uri url, string script, int connections, TimeSpan duration)
    {
        var info = Harness.Peer(Binary, ["-t1", $"-c{connections}", $"-d{Math.Max(1, (int)duration.TotalSeconds)}s", "--latency", "--timeout", "10s", "-s", script, url.ToString()]);

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start wrk.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var text = await stdout;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"wrk failed ({process.ExitCode}): {text} {await stderr}");
        }

        var failed = long.Parse(Match(FailedLine(), text, url), CultureInfo.InvariantCulture);
        if (failed > 0)
        {
            throw new InvalidOperationException($"wrk against {url}: {failed} answers were not 200\n{text}");
        }

        var errors = SocketErrors().Match(text);

        return new WrkResult(
            double.Parse(Match(RateLine(), text, url), CultureInfo.InvariantCulture),
            Milliseconds(Match(P50Line(), text, url)),
            Milliseconds(Match(P99Line(), text, url)),
            long.Parse(Match(RequestsLine(), text, url), CultureInfo.InvariantCulture),
            errors.Success ? errors.Value : null);
    }

    private static string Match(Regex regex, string text, Uri url)
    {
        var match = regex.Match(text);
        return match.Success ? match.Groups[1].Value : throw new InvalidOperationException($"unexpected wrk output for {url}:\n{text}");
    }

    /// <summary>wrk prints latencies as 52.00us, 1.20ms or 1.02s.</summary>
    private static double Milliseconds(string value)
    {
        var unit = value.TrimStart("0123456789.".ToCharArray());
        var number = double.Parse(value[..^unit.Length], CultureInfo.InvariantCulture);
        return unit switch
        {
            "us" => number / 1000,
            "ms" => number,
            "s" => number * 1000,
            "m" => number * 60_000,
            _ => throw new FormatException($"unknown wrk latency unit in {value}"),
        };
    }

    private static string LuaString(string text) =>
        "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RateLine();

    [GeneratedRegex(@"^\s+50%\s+([0-9.]+[a-z]+)", RegexOptions.Multiline)]
    private static partial Regex P50Line();

    [GeneratedRegex(@"^\s+99%\s+([0-9.]+[a-z]+)", RegexOptions.Multiline)]
    private static partial Regex P99Line();

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex RequestsLine();

    [GeneratedRegex(@"failed: (\d+)")]
    private static partial Regex FailedLine();

    [GeneratedRegex(@"Socket errors:[^\n]*")]
    private static partial Regex SocketErrors();
}
