using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Api.Tests.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Edge.Tests.Publish;
using Trellis.TestKit;
using static Trellis.Api.Tests.Edge.Published.PublishedTesting;

namespace Trellis.Api.Tests.Edge.Published;

/// <summary>Self-update of the published linux-x64 agent from the builds a real gateway serves: a build that does not start
/// is rolled back (the executable restored byte for byte, the build marked bad, the agent and its link carry on), and a
/// newer real build replaces the running agent while its jobs keep running. Each test runs its own copy of the executable,
/// since an update rewrites the file the agent runs from.</summary>
public sealed class PublishedAgentUpdateTests : IAsyncLifetime
{
    private const string Rid = "linux-x64";
    private const string NewVersion = "99.1.0";

    /// <summary>Downloads, swaps and restarts are real; these are limits, not expectations.</summary>
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(60);

    private static readonly Lazy<Task<byte[]>> s_newBuild = new(PublishNewVersionAsync);

    private readonly TempFolder _temp = new();
    private TestGateway _gateway = null!;
    private DeviceProgram _program = null!;
    private AgentProcess? _agent;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Edge:BuildsDirectory"] = _temp.File("builds") });
        _program = await DeviceProgram.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }

        await _program.DisposeAsync();
        await _gateway.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task A_build_that_does_not_start_is_rolled_back_and_the_agent_and_its_link_carry_on()
    {
        var (agent, provider, executable) = await StartAgentAsync();
        var original = await File.ReadAllBytesAsync(executable, TestContext.Current.CancellationToken);
        await PublishEchoAsync(agent, provider);

        // A "build" that exits 1 at once: never ready.
        var bad = Encoding.UTF8.GetBytes("#!/bin/sh\necho 'the bad build ran' >&2\nexit 1\n");
        await UploadAsync("99.0.0", bad);

        var badJson = Path.Combine(agent.Home, "update", "bad.json");
        await agent.UntilAsync(() => Task.FromResult(File.Exists(badJson) ? File.ReadAllText(badJson) : ""), t => t.Contains("99.0.0"),
            $"{badJson} to name 99.0.0", Slow);
        Assert.Contains("the bad build ran", await agent.UntilAsync(() => Task.FromResult(agent.Output), o => o.Contains("the bad build ran"), "the bad build's output", Slow));
        var restored = await File.ReadAllBytesAsync(executable, TestContext.Current.CancellationToken);
        Assert.True(original.SequenceEqual(restored), $"after the rollback {executable} is not the original executable byte for byte");

        // The agent carries on: it serves its socket again, its link is up, the device is online and serves the cluster.
        Assert.False(agent.HasExited, $"the agent exited after the rollback:\n{agent.Output}");
        var info = await agent.InfoAsync(i => (string?)i["link"] == "up", $"{agent}: the local API again with the link up after the rollback", Slow);
        Assert.Equal("1.0.0", (string)info["version"]!);
        var device = await DeviceAsync(_gateway, agent, provider, d => OnlineWith(d, "echo"), $"device {provider} online after the rollback", Slow);
        Assert.NotEqual("99.0.0", (string?)device["version"]);
        var node = await _gateway.RegisterAsync(new { port = _program.Port });
        var reply = await RequestAsync(_gateway, node, "edge.acme.echo", 1);
        Assert.True(reply.Status == 200, $"after the rollback edge.acme.echo answered {reply}\n--- agent output ---\n{agent.Output}");
        Assert.False(agent.HasExited, $"the agent exited:\n{agent.Output}");
    }

    [Fact]
    public async Task A_newer_build_replaces_the_running_agent_and_its_jobs_keep_running()
    {
        var build = await s_newBuild.Value;
        var (agent, provider, executable) = await StartAgentAsync();
        await PublishEchoAsync(agent, provider);

        // A job started before the update.
        var (status, body) = await agent.TryLocalAsync(HttpMethod.Post, "/v1/jobs", new JsonObject { ["name"] = "sleeper", ["command"] = new JsonArray("sleep", "300") });
        Assert.True(status is 200 or 201, $"POST /v1/jobs answered {status}: {body}");
        var jobId = (string)JsonNode.Parse(body)!["id"]!;
        var pidFile = Path.Combine(agent.Home, "jobs", jobId, "pid");
        var jobPid = await agent.UntilAsync(() => Task.FromResult(File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var p) ? p : 0),
            p => p > 0, $"the job's pid in {pidFile}", Slow);
        // The pid is written by the job's shell just before it execs the command: wait for the exec to be done.
        await agent.UntilAsync(() => Task.FromResult(AgentProcess.CommandLine(jobPid) ?? []), static args => args is ["sleep", "300"],
            $"job pid {jobPid} to be running sleep 300", Slow);

        await UploadAsync(NewVersion, build);

        // The old agent hands over and exits; a new process serves the socket as the new version.
        await agent.UntilAsync(() => Task.FromResult(agent.HasExited), e => e, $"the agent {agent.Pid} to exit after starting {NewVersion}", Slow);
        var info = await agent.InfoAsync(i => (string?)i["version"] == NewVersion && (string?)i["link"] == "up", $"GET /v1/info from {NewVersion} with the link up", Slow);
        Assert.Equal(provider, (string)info["provider"]!);
        var successors = agent.Leftovers().Where(p => AgentProcess.CommandLine(p) is [var exe, ..] && exe == executable).ToArray();
        Assert.True(successors.Length == 1 && successors[0] != agent.Pid, $"expected one new agent process running {executable}, found [{string.Join(", ", successors)}]");
        var replaced = await File.ReadAllBytesAsync(executable, TestContext.Current.CancellationToken);
        Assert.True(build.SequenceEqual(replaced), $"{executable} is not the {NewVersion} build");

        // The cluster sees the new version and still reaches the device's service.
        var device = await DeviceAsync(_gateway, agent, provider, d => (string?)d["version"] == NewVersion && OnlineWith(d, "echo"), $"device {provider} online as {NewVersion}", Slow);
        Assert.Equal(NewVersion, (string)device["version"]!);
        var node = await _gateway.RegisterAsync(new { port = _program.Port });
        var reply = await RequestAsync(_gateway, node, "edge.acme.echo", 1);
        Assert.True(reply.Status == 200, $"after the update edge.acme.echo answered {reply}\n--- agent output ---\n{agent.Output}");

        // The job lived through it: the same process, and the new agent knows it as running.
        Assert.Equal(["sleep", "300"], AgentProcess.CommandLine(jobPid) ?? []);
        var jobs = await agent.UntilAsync(async () => (await agent.TryLocalAsync(HttpMethod.Get, "/v1/jobs")).Body,
            b => b.Contains("\"sleeper\"") && b.Contains("\"running\""), $"{NewVersion} to list the job sleeper as running", Slow);
        Assert.Contains(jobId, jobs);
        Assert.Equal(jobPid, int.Parse((await File.ReadAllTextAsync(pidFile, TestContext.Current.CancellationToken)).Trim()));
    }

    /// <summary>Starts a copy of the published agent with auto-update on, linked to the gateway; waits for the link.</summary>
    private async Task<(AgentProcess Agent, string Provider, string Executable)> StartAgentAsync()
    {
        Assert.SkipUnless(RuntimeInformation.RuntimeIdentifier == Rid, $"the update tests run the {Rid} agent natively; this machine is {RuntimeInformation.RuntimeIdentifier}");
        var published = await PublishedAgent.GetAsync(Rid);
        var executable = _temp.File("bin/trellis-edge");
        Directory.CreateDirectory(Path.GetDirectoryName(executable)!);
        File.Copy(published.Path, executable);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(executable, File.GetUnixFileMode(published.Path));
        }

        var provider = NewProvider();
        var token = await IssueTokenAsync(_gateway, provider);
        var home = Directory.CreateDirectory(_temp.File("home")).FullName;
        _agent = AgentProcess.Start(published, home,
        [
            "--gateway", _gateway.GrpcAddress!.ToString(), "--gateway-http", _gateway.Address.ToString(),
            "--token", token, "--provider", provider, "--http-port", "0", "--lan-port", "0",
        ], executable);
        var info = await _agent.InfoAsync(i => (string?)i["link"] == "up", $"{_agent}: GET /v1/info with the link up", Slow);
        Assert.True((bool)info["autoUpdate"]!, $"the agent runs without auto-update: {info.ToJsonString()}");
        return (_agent, provider, executable);
    }

    /// <summary>Publishes acme/echo (the device's program) to the WAN scope and waits for the gateway to list it.</summary>
    private async Task PublishEchoAsync(AgentProcess agent, string provider)
    {
        var (status, body) = await agent.TryLocalAsync(HttpMethod.Post, "/v1/services",
            new JsonObject { ["publisher"] = "acme", ["service"] = "echo", ["url"] = new Uri(_program.Address, "/echo").ToString(), ["scopes"] = new JsonArray("wan") });
        Assert.True(status == 201, $"POST /v1/services answered {status}: {body}");
        await DeviceAsync(_gateway, agent, provider, d => OnlineWith(d, "echo"), $"device {provider} online with acme/echo", Slow);
    }

    /// <summary><c>PUT /edge/builds/linux-x64?version=V&amp;sha256=H</c> as the admin.</summary>
    private async Task UploadAsync(string version, byte[] content)
    {
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/edge/builds/{Rid}?version={version}&sha256={sha256}") { Content = new ByteArrayContent(content) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestGateway.AdminToken);
        using var response = await _gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True((int)response.StatusCode == 201, $"uploading {Rid} {version} answered {(int)response.StatusCode}: {text}");
    }

    /// <summary>The agent published as <see cref="NewVersion"/> (cached by the script, which keys on its extra options).</summary>
    private static async Task<byte[]> PublishNewVersionAsync()
    {
        var script = Path.Combine(PublishedAgent.RepositoryRoot, "scripts", "edge-publish.sh");
        var info = new ProcessStartInfo("bash")
        {
            ArgumentList = { script, Rid },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.Environment["EDGE_PUBLISH_ARGS"] = $"-p:Version={NewVersion}";
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().Within($"scripts/edge-publish.sh {Rid} for {NewVersion}", TimeSpan.FromMinutes(10));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var path = (await stdout).Trim();
        if (process.ExitCode != 0 || !File.Exists(path))
        {
            throw new InvalidOperationException($"scripts/edge-publish.sh {Rid} for {NewVersion} failed (exit {process.ExitCode}): {await stderr}");
        }

        // Read at once: the cache keeps a few builds per architecture and may drop this one later.
        return await File.ReadAllBytesAsync(path);
    }
}
