using System.Diagnostics;
using Trellis.Edge.Update;

namespace Trellis.Edge.Tests.Publish;

/// <summary>The agent as it ships (issue 12, item 7): published for linux-x64 and linux-arm64 by scripts/edge-publish.sh,
/// run natively and under emulation.</summary>
public sealed class PublishTests
{
    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    public async Task The_published_agent_prints_its_provider_id_and_names_its_runtime(string rid)
    {
        var agent = await PublishedAgent.GetAsync(rid);
        if (agent.Emulated)
        {
            agent.Emulator();
        }

        var (infoCode, info, infoErrors) = await agent.RunAsync(["info"]);
        Assert.True(infoCode == 0, $"{agent} info exited {infoCode}: {infoErrors}");
        Assert.StartsWith($"trellis-edge {AgentVersion.Current} on {rid} (.NET ", info.Trim());

        var (idCode, id, idErrors) = await agent.RunAsync(["id"]);
        Assert.True(idCode == 0, $"{agent} id exited {idCode}: {idErrors}");
        Assert.Equal(ProviderId.Current(), id.Trim());
    }

    [Fact]
    public async Task The_published_agent_is_one_small_executable()
    {
        var agent = await PublishedAgent.GetAsync("linux-x64");

        Assert.Equal(["trellis-edge"], Directory.GetFiles(Path.GetDirectoryName(agent.Path)!).Select(Path.GetFileName));

        // Far below the 82 MB of the untrimmed self-contained build; the figure itself is in the bench (footprint).
        Assert.InRange(new FileInfo(agent.Path).Length, 1, 40L << 20);
    }

    [Fact]
    public async Task The_publish_script_refuses_an_unsupported_runtime_and_says_which_ones_it_knows()
    {
        var info = new ProcessStartInfo("bash") { ArgumentList = { Path.Combine(PublishedAgent.RepositoryRoot, "scripts", "edge-publish.sh"), "win-x64" }, RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(info)!;
        var errors = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains("unsupported RID 'win-x64'", errors);
        Assert.Contains("linux-arm64", errors);
    }
}
