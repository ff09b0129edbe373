using System.Diagnostics;
using System.Globalization;
using System.Text;
using Trellis.Flows.Graphs;

namespace Trellis.Bench.Flows;

/// <summary>P8c: parsing a generated .fbp graph of 10,000 edges (plus IIPs, exports, metadata) with
/// <see cref="FbpParser"/> against the npm <c>fbp</c> 1.8.0 parser on node, timed in the same run (each side: one
/// warm-up parse, then one parse per round; medians).</summary>
public static class P8c
{
    private const int Edges = 10_000;

    public static async Task<int> RunAsync(string[] args)
    {
        var text = Generate(Edges);
        var file = Path.Combine(Path.GetTempPath(), $"trellis-p8c-{Environment.ProcessId}.fbp");
        await File.WriteAllTextAsync(file, text);
        try
        {
            // Warm-up: enough small parses for the JIT to reach its optimised tier, then one full parse.
            var small = Generate(100);
            for (var i = 0; i < 300; i++)
            {
                FbpParser.Parse(small);
            }

            var graph = FbpParser.Parse(text);
            var connections = graph.Connections.Count;
            var ours = new List<double>();
            for (var round = 0; round < Harness.Rounds; round++)
            {
                var watch = Stopwatch.StartNew();
                FbpParser.Parse(text);
                ours.Add(watch.Elapsed.TotalMilliseconds);
            }

            var node = await NodeAsync(file, Harness.Rounds);
            var oursMs = Harness.Median(ours);
            Console.WriteLine($"P8c .fbp parse, {connections} connections ({text.Length / 1024} KiB): ours {oursMs:0.00} ms = {Harness.Fmt(connections / (oursMs / 1000))} edges/s");
            if (node is null)
            {
                Console.WriteLine("P8c npm fbp: not measured (node or tests/Interop/node/node_modules/fbp missing: run scripts/deps.sh)");
                return 0;
            }

            var nodeMs = node.Value;
            Console.WriteLine($"P8c npm fbp 1.8.0 on node: {nodeMs:0.00} ms = {Harness.Fmt(connections / (nodeMs / 1000))} edges/s; ratio fbp/ours = {nodeMs / oursMs:0.0}x");
            return 0;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The same in one node process: one warm-up parse, then <paramref name="rounds"/> parses; the median in ms.</summary>
    private static async Task<double?> NodeAsync(string file, int rounds)
    {
        var package = FindPackage();
        if (package is null)
        {
            return null;
        }

        const string Script = """
            const fbp = require(process.argv[1]);
            const text = require('fs').readFileSync(process.argv[2], 'utf-8');
            fbp.parse(text, {});
            const times = [];
            for (let i = 0; i < Number(process.argv[3]); i++) {
              const start = process.hrtime.bigint();
              fbp.parse(text, {});
              times.push(Number(process.hrtime.bigint() - start) / 1e6);
            }
            times.sort((a, b) => a - b);
            const m = times.length >> 1;
            console.log(times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2);
            """;
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-e", Script, package, file, rounds.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(a);
        }

        try
        {
            using var process = Process.Start(info)!;
            var stdout = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            return process.ExitCode == 0 ? double.Parse(stdout.Trim(), CultureInfo.InvariantCulture) : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string? FindPackage()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var package = Path.Combine(dir.FullName, "tests", "Interop", "node", "node_modules", "fbp");
            if (File.Exists(Path.Combine(package, "lib", "fbp.js")))
            {
                return package;
            }
        }

        return null;
    }

    /// <summary>A graph of chains of five nodes (components on first mention, some with metadata and port indexes),
    /// an IIP per chain and a few exports: <paramref name="edges"/> edges in all.</summary>
    private static string Generate(int edges)
    {
        var text = new StringBuilder("# @runtime msgflo\n# @name Bench\nINPORT=n0.IN:START\nOUTPORT=n4.OUT:END\n");
        var made = 0;
        for (var chain = 0; made < edges; chain++)
        {
            var b = chain * 5;
            text.Append(CultureInfo.InvariantCulture, $"n{b}(core/Repeat:x={chain},y=20) OUT -> IN n{b + 1}(core/Split) OUT[0] -> IN n{b + 2}(api/Worker) OUT -> IN[1] n{b + 3}(core/Merge)\n");
            text.Append(CultureInfo.InvariantCulture, $"n{b + 1} ERROR -> IN n{b + 4}(core/Log:route)\n");
            text.Append(CultureInfo.InvariantCulture, $"'chain {chain}' -> PREFIX n{b}, {{\"id\": {chain}, \"tags\": [\"a\", \"b\"]}} -> CONFIG n{b + 2}\n");
            made += 4;
        }

        return text.ToString();
    }
}
