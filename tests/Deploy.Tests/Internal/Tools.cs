using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Trellis.Deploy.Tests.Internal;

/// <summary>Runs the external tools the tests check the manifests with: node (tests/Deploy.Tests/yaml-tool.mjs) and
/// kubectl.</summary>
internal static class Tools
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>Every YAML document of <paramref name="path"/>, as JSON (merge keys resolved).</summary>
    public static async Task<JsonArray> ParseYamlAsync(string path) =>
        JsonNode.Parse(await RunAsync("node", [ToolScript, "parse", path], stdin: null))!.AsArray();

    /// <summary>The documents of <paramref name="yaml"/> and the schema errors of each, "Kind/name: message".</summary>
    public static async Task<(JsonArray Objects, IReadOnlyList<string> Errors)> ValidateAsync(string yaml)
    {
        var result = JsonNode.Parse(await RunAsync("node", [ToolScript, "validate", "-"], yaml))!;
        return (result["objects"]!.AsArray(), [.. result["errors"]!.AsArray().Select(e => (string)e!)]);
    }

    /// <summary>The output of <c>kubectl kustomize</c> on <paramref name="directory"/>.</summary>
    public static Task<string> KustomizeAsync(string directory) => RunAsync(Kubectl, ["kustomize", directory], stdin: null);

    private static string ToolScript => Repository.PathOf("tests", "Deploy.Tests", "yaml-tool.mjs");

    private static string Kubectl
    {
        get
        {
            var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(dir => Path.Combine(dir, "kubectl")).FirstOrDefault(File.Exists);
            return found ?? throw new InvalidOperationException(
                "kubectl is not installed: scripts/deps.sh installs Debian's kubernetes-client (or put any kubectl with `kustomize` on PATH)");
        }
    }

    private static async Task<string> RunAsync(string file, IReadOnlyList<string> args, string? stdin)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repository.Root,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var command = $"{file} {string.Join(' ', args)}";
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"{command} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{command} could not start ({e.Message}); scripts/deps.sh installs what the tests need", e);
        }

        using (process)
        using (var cts = new CancellationTokenSource(Timeout))
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
            var stderr = process.StandardError.ReadToEndAsync(cts.Token);
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin.AsMemory(), cts.Token);
            }

            process.StandardInput.Close();
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{command} did not finish within {Timeout}");
            }

            var output = await stdout;
            var error = await stderr;
            return process.ExitCode == 0
                ? output
                : throw new InvalidOperationException($"{command} exited with {process.ExitCode}: {error.Trim()}");
        }
    }
}
