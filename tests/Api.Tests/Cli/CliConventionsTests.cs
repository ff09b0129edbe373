using System.Diagnostics;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Cli;

/// <summary>What every verb shares: connection settings (flag &gt; environment &gt; profile &gt; default), the profile file
/// and its verbs, exit codes 1, 2 and 3, and shell completion.</summary>
public sealed class CliConventionsTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private CliTesting _cli = null!;
    private readonly string _nowhere = $"http://127.0.0.1:{FreePorts.Take(1)[0]}";

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _cli = new CliTesting(_gateway);
    }

    public async ValueTask DisposeAsync()
    {
        _cli.Dispose();
        await _gateway.DisposeAsync();
    }

    private string Url => _gateway.Address.ToString();

    [Fact]
    public async Task Flag_beats_environment_beats_profile_beats_default()
    {
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "url", _nowhere)).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "token", "wrong-token-from-the-profile")).Exit);
        var fromProfile = await _cli.RunAsync("nodes", "list");
        Assert.True(fromProfile.Exit == CliApp.Unreachable, fromProfile.ToString());
        Assert.Contains(_nowhere, fromProfile.Err, StringComparison.Ordinal);

        _cli.Environment["TRELLIS_URL"] = Url;
        var envUrlProfileToken = await _cli.RunAsync("nodes", "list");
        Assert.True(envUrlProfileToken.Exit == CliApp.Failed, envUrlProfileToken.ToString());
        Assert.Contains("403", envUrlProfileToken.Err, StringComparison.Ordinal);

        _cli.Environment["TRELLIS_TOKEN"] = TestGateway.AdminToken;
        var fromEnvironment = await _cli.RunAsync("nodes", "list", "-o", "json");
        Assert.True(fromEnvironment.Exit == CliApp.Ok, fromEnvironment.ToString());

        var flagUrl = await _cli.RunAsync("nodes", "list", "--url", _nowhere);
        Assert.True(flagUrl.Exit == CliApp.Unreachable, flagUrl.ToString());
        var flagToken = await _cli.RunAsync("--token", "wrong-token-on-the-flag", "nodes", "list");
        Assert.True(flagToken.Exit == CliApp.Failed, flagToken.ToString());

        // Another profile, chosen by TRELLIS_PROFILE, then by --profile over it.
        _cli.Environment.Remove("TRELLIS_URL");
        _cli.Environment.Remove("TRELLIS_TOKEN");
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "url", Url, "--profile", "test")).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "token", TestGateway.AdminToken, "--profile", "test")).Exit);
        _cli.Environment["TRELLIS_PROFILE"] = "test";
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("nodes", "list")).Exit);
        Assert.Equal(CliApp.Unreachable, (await _cli.RunAsync("nodes", "list", "--profile", "default")).Exit);
        var unknown = await _cli.RunAsync("nodes", "list", "--profile", "absent");
        Assert.True(unknown.Exit == CliApp.Usage, unknown.ToString());
        Assert.Contains("no profile 'absent'", unknown.Err, StringComparison.Ordinal);

        _cli.Environment.Remove("TRELLIS_PROFILE");
        Assert.Equal(CliApp.Unreachable, (await _cli.RunAsync("nodes", "list")).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "use", "test")).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("nodes", "list")).Exit);

        _cli.Environment["TRELLIS_URL"] = "ftp://example";
        var badEnv = await _cli.RunAsync("nodes", "list");
        Assert.True(badEnv.Exit == CliApp.Usage, badEnv.ToString());
        Assert.Contains("TRELLIS_URL must be an http:// or https:// URL", badEnv.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_verbs_mask_tokens_and_keep_the_file_private()
    {
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "url", "http://prod.example:5080", "--profile", "prod")).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "token", "a-very-secret-token-1234", "--profile", "prod")).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "grpc-url", "http://prod.example:5081", "--profile", "prod")).Exit);
        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "set", "url", "http://127.0.0.1:5080", "--profile", "dev")).Exit);

        var path = Path.Combine(_cli.Home, "profiles.json");
        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        var table = await _cli.RunAsync("config", "list");
        Assert.True(table.Exit == CliApp.Ok, table.ToString());
        Assert.Matches(@"^CURRENT\s+NAME\s+URL\s+GRPC URL\s+TOKEN$", table.Lines[0]);
        Assert.Matches(@"^\*\s+prod\s+http://prod\.example:5080\s+http://prod\.example:5081\s+\*\*\*\*1234$", table.Lines[1]);
        Assert.Matches(@"^\s+dev\s+http://127\.0\.0\.1:5080\s+-\s+-$", table.Lines[2]);
        foreach (var format in new[] { "table", "json", "yaml" })
        {
            var listed = await _cli.RunAsync("config", "list", "-o", format);
            Assert.DoesNotContain("a-very-secret-token", listed.Out, StringComparison.Ordinal);
        }

        var json = await _cli.RunAsync("config", "list", "-o", "json");
        Assert.Equal("****1234", (string)json.Json.AsArray()[0]!["token"]!);
        Assert.Equal("****1234", (await _cli.RunAsync("config", "get", "token")).Out.Trim());
        Assert.Equal("http://prod.example:5081", (await _cli.RunAsync("config", "get", "grpc-url")).Out.Trim());

        Assert.Equal(CliApp.Ok, (await _cli.RunAsync("config", "use", "dev")).Exit);
        Assert.Equal("http://127.0.0.1:5080", (await _cli.RunAsync("config", "get", "url")).Out.Trim());
        Assert.Equal(CliApp.Failed, (await _cli.RunAsync("config", "get", "token")).Exit);
        Assert.Equal(CliApp.Failed, (await _cli.RunAsync("config", "use", "absent")).Exit);
        Assert.Equal(CliApp.Usage, (await _cli.RunAsync("config", "set", "url", "not a url")).Exit);
        Assert.Equal(CliApp.Usage, (await _cli.RunAsync("config", "set", "colour", "blue")).Exit);

        await File.WriteAllTextAsync(path, "{ not json", TestContext.Current.CancellationToken);
        var broken = await _cli.RunAsync("nodes", "list");
        Assert.True(broken.Exit == CliApp.Usage, broken.ToString());
        Assert.Contains("profiles.json is not valid JSON", broken.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_codes_tell_refused_usage_and_unreachable_apart()
    {
        var refused = await _cli.RunAsync("nodes", "list", "--url", Url, "--token", "wrong");
        Assert.True(refused.Exit == CliApp.Failed, refused.ToString());
        Assert.StartsWith("trellis: 403 ", refused.Err, StringComparison.Ordinal);

        string[][] usages =
        [
            ["nodes", "frobnicate"], ["request"], ["apps", "poke", "x"], ["nodes", "list", "-o", "xml"], ["errors", "tail", "-n", "-1"],
            ["request", "t", "--timeout", "0"], ["completion", "tcsh"], ["nodes", "list", "--url", "ftp://x"],
        ];
        foreach (var usage in usages)
        {
            var run = await _cli.RunAsync(usage);
            Assert.True(run.Exit == CliApp.Usage, $"{string.Join(' ', usage)}: {run}");
            Assert.StartsWith("trellis: ", run.Err, StringComparison.Ordinal);
        }

        string[][] verbs =
        [
            ["health"], ["nodes", "list"], ["nodes", "show", "x"], ["request", "t"], ["signal", "t"], ["compose", """{"pipe":[]}"""],
            ["apps", "info", "a"], ["apps", "watch", "a"], ["errors", "tail"], ["participants"], ["edge", "list"], ["grpc", "health"],
        ];
        foreach (var verb in verbs)
        {
            var run = await _cli.RunAsync([.. verb, "--url", _nowhere, "--grpc-url", _nowhere]);
            Assert.True(run.Exit == CliApp.Unreachable, $"{string.Join(' ', verb)}: {run}");
            Assert.Contains("cannot reach", run.Err, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Completion_suggests_verbs_through_the_suggest_directive()
    {
        var nodes = await RunProcessAsync("[suggest:10]", "trellis no");
        Assert.Contains("nodes", nodes.Split('\n', StringSplitOptions.TrimEntries));
        var apps = await RunProcessAsync("[suggest:18]", "trellis apps wa");
        Assert.Contains("watch", apps.Split('\n', StringSplitOptions.TrimEntries));
        var output = await RunProcessAsync("[suggest:24]", "trellis nodes list -o ya");
        Assert.Contains("yaml", output.Split('\n', StringSplitOptions.TrimEntries));

        foreach (var shell in new[] { "bash", "zsh", "fish", "pwsh" })
        {
            var script = await _cli.RunAsync("completion", shell);
            Assert.True(script.Exit == CliApp.Ok, script.ToString());
            Assert.Contains("trellis \"[suggest:", script.Out, StringComparison.Ordinal);
        }

        // The bash script, sourced in a real bash with trellis on the PATH, fills COMPREPLY.
        var bin = Path.Combine(_cli.Home, "bin");
        Directory.CreateDirectory(bin);
        var trellis = Path.Combine(bin, "trellis");
        await File.WriteAllTextAsync(trellis, $"#!/bin/sh\nexec dotnet '{TrellisDll}' \"$@\"\n", TestContext.Current.CancellationToken);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(trellis, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var bash = (await _cli.RunAsync("completion", "bash")).Out;
        var test = bash + "\nCOMP_LINE='trellis no'; COMP_POINT=10; _trellis_complete; printf '%s\\n' \"${COMPREPLY[@]}\"\n";
        var completed = await RunAsync("/bin/bash", ["-c", test], bin);
        Assert.Contains("nodes", completed.Split('\n', StringSplitOptions.TrimEntries));
    }

    private static string TrellisDll => Path.Combine(AppContext.BaseDirectory, "trellis.dll");

    private static Task<string> RunProcessAsync(params string[] args) => RunAsync("dotnet", [TrellisDll, .. args], null);

    private static async Task<string> RunAsync(string file, string[] args, string? path)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        if (path is not null)
        {
            start.Environment["PATH"] = path + ":" + Environment.GetEnvironmentVariable("PATH");
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).Within($"{file} {string.Join(' ', args)}", TimeSpan.FromSeconds(60));
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await error}");
        return await output;
    }
}
