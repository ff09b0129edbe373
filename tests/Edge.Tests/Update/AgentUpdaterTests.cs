using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Contracts.V1;
using Trellis.Edge.Daemon;
using Trellis.Edge.Update;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Update;

/// <summary>The update swap with real executables: shell scripts stand for the running agent and for the offered builds,
/// a real HTTP server serves the builds, and the new agent is a real process started by the updater.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class AgentUpdaterTests : IDisposable
{
    private const string Arch = "linux-x64";
    private const string Token = "tok-update";
    private const string Device = "dev-update";
    private const string BuildPath = "/edge/builds/linux-x64/binary";

    // The running agent: any executable will do, the test only checks that it is swapped out and back byte for byte.
    private const string OldAgent = "#!/bin/sh\necho old agent 1.0.0\n";

    // A good build: records its arguments and the version it replaces, then says it is ready the way
    // AgentUpdater.SignalReadyIfUpdated does (written aside and renamed).
    private const string GoodAgent = """
        #!/bin/sh
        dir=$(dirname "$TRELLIS_EDGE_UPDATE_READY")
        printf '%s\n' "$*" > "$dir/new-args"
        printf '%s\n' "$TRELLIS_EDGE_UPDATED_FROM" > "$dir/new-from"
        echo ready > "$TRELLIS_EDGE_UPDATE_READY.tmp" && mv "$TRELLIS_EDGE_UPDATE_READY.tmp" "$TRELLIS_EDGE_UPDATE_READY"

        """;

    private const string FailingAgent = "#!/bin/sh\necho 'cannot start' >&2\nexit 1\n";

    // Starts and never says it is ready; records its pid so the test can see it was killed.
    private const string HangingAgent = """
        #!/bin/sh
        echo $$ > "$(dirname "$TRELLIS_EDGE_UPDATE_READY")/hung-pid"
        exec sleep 120

        """;

    private readonly TempFolder _temp = new();
    private readonly BuildServer _server = new(Token, Device);
    private readonly string _executable;
    private readonly byte[] _oldBytes = Encoding.UTF8.GetBytes(OldAgent);
    private int _released;
    private int _resumed;
    private readonly List<int> _exits = [];

    public AgentUpdaterTests()
    {
        Directory.CreateDirectory(_temp.File("bin"));
        _executable = _temp.File("bin/trellis-edge");
        File.WriteAllBytes(_executable, _oldBytes);
        File.SetUnixFileMode(_executable, (UnixFileMode)0b111_101_101);
    }

    private string Home => _temp.File("home");

    private string UpdateDir => Path.Combine(Home, "update");

    private AgentUpdater Updater(bool autoUpdate = true, TimeSpan? readyTimeout = null, string token = Token, bool releaseFails = false) => new(
        new EdgeOptions { WorkDir = Home, GatewayHttp = _server.BaseUri, Token = token, Provider = Device, AutoUpdate = autoUpdate },
        new AgentUpdateHost
        {
            ExecutablePath = _executable,
            Arguments = ["daemon", "--home", Home, "--gateway", "http://gw.example:5081"],
            Release = _ =>
            {
                Interlocked.Increment(ref _released);
                return releaseFails ? Task.FromException(new IOException("the socket is busy")) : Task.CompletedTask;
            },
            Resume = _ => { Interlocked.Increment(ref _resumed); return Task.CompletedTask; },
            Exit = code => { lock (_exits) { _exits.Add(code); } },
        })
    {
        Arch = Arch,
        CurrentVersion = "1.0.0",
        ReadyTimeout = readyTimeout ?? TimeSpan.FromSeconds(30),
    };

    private BuildInfo Offer(string script, string version = "1.1.0", string arch = Arch, byte[]? served = null)
    {
        var bytes = Encoding.UTF8.GetBytes(script);
        _server.Serve(BuildPath, served ?? bytes);
        return new BuildInfo
        {
            Arch = arch,
            Version = version,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
            Size = bytes.Length,
            Path = BuildPath,
        };
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_newer_build_is_verified_swapped_in_and_started_and_the_old_agent_exits_once_it_is_ready()
    {
        using var updater = Updater();
        var build = Offer(GoodAgent);

        var outcome = await updater.OfferAsync(build, Ct).Within("the update to 1.1.0");

        Assert.True(outcome.Result == UpdateResult.Swapped, outcome.Reason);
        Assert.Equal([0], _exits);
        Assert.Equal(1, _released);
        Assert.Equal(0, _resumed);
        Assert.Equal(Encoding.UTF8.GetBytes(GoodAgent), File.ReadAllBytes(_executable));
        Assert.True(File.GetUnixFileMode(_executable).HasFlag(UnixFileMode.UserExecute), "the new executable is executable");
        Assert.Equal(_oldBytes, File.ReadAllBytes(updater.PreviousPath));
        Assert.Equal($"daemon --home {Home} --gateway http://gw.example:5081", File.ReadAllText(Path.Combine(UpdateDir, "new-args")).TrimEnd());
        Assert.Equal("1.0.0", File.ReadAllText(Path.Combine(UpdateDir, "new-from")).TrimEnd());
        Assert.False(File.Exists(Path.Combine(UpdateDir, "trellis-edge.download")), "the download is removed once swapped in");
        var request = Assert.Single(_server.Requests);
        Assert.Equal((BuildPath, $"Bearer {Token}", Device), request);
    }

    [Fact]
    public async Task A_build_that_fails_to_start_is_rolled_back_byte_for_byte_marked_bad_and_not_retried()
    {
        using var updater = Updater();
        var build = Offer(FailingAgent, version: "1.2.0");

        var outcome = await updater.OfferAsync(build, Ct).Within("the update to the failing 1.2.0");

        Assert.True(outcome.Result == UpdateResult.RolledBack, outcome.Reason);
        Assert.Contains("exited with code 1", outcome.Reason);
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
        Assert.True(File.GetUnixFileMode(_executable).HasFlag(UnixFileMode.UserExecute), "the restored executable is executable");
        Assert.Empty(_exits);
        Assert.Equal(1, _released);
        Assert.Equal(1, _resumed);
        Assert.True(updater.IsMarkedBad(build));
        var bad = Assert.Single(JsonNode.Parse(File.ReadAllText(Path.Combine(UpdateDir, "bad.json")))!.AsArray());
        Assert.Equal("1.2.0", (string)bad!["version"]!);
        Assert.Contains("exited with code 1", (string)bad["reason"]!);

        var again = await updater.OfferAsync(build, Ct).Within("the second offer of 1.2.0");
        Assert.True(again.Result == UpdateResult.Ignored, again.Reason);
        Assert.Contains("marked bad", again.Reason);
        Assert.Single(_server.Requests);

        // The record outlives the process: a restarted agent does not try it either.
        using var restarted = Updater();
        Assert.Equal(UpdateResult.Ignored, (await restarted.OfferAsync(build, Ct).Within("the offer after a restart")).Result);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task A_build_that_never_says_it_is_ready_is_killed_and_rolled_back()
    {
        using var updater = Updater(readyTimeout: TimeSpan.FromSeconds(1));
        var build = Offer(HangingAgent, version: "1.3.0");

        var outcome = await updater.OfferAsync(build, Ct).Within("the update to the hanging 1.3.0");

        Assert.True(outcome.Result == UpdateResult.RolledBack, outcome.Reason);
        Assert.Contains("not ready within", outcome.Reason);
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
        Assert.True(updater.IsMarkedBad(build));
        Assert.Empty(_exits);
        Assert.Equal(1, _resumed);
        var pid = int.Parse(File.ReadAllText(Path.Combine(UpdateDir, "hung-pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await Waits.UntilAsync(() => Task.FromResult(Directory.Exists($"/proc/{pid}")), gone => !gone, $"the hung agent (pid {pid}) to be gone");
    }

    [Fact]
    public async Task A_download_that_does_not_match_its_checksum_is_discarded_and_marked_bad_and_nothing_is_swapped()
    {
        using var updater = Updater();
        var corrupt = Encoding.UTF8.GetBytes(GoodAgent);
        corrupt[^2] ^= 0x20;
        var build = Offer(GoodAgent, version: "1.4.0", served: corrupt);

        var outcome = await updater.OfferAsync(build, Ct).Within("the corrupt download of 1.4.0");

        Assert.True(outcome.Result == UpdateResult.Rejected, outcome.Reason);
        Assert.Contains("SHA-256", outcome.Reason);
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
        Assert.False(File.Exists(updater.PreviousPath), "nothing was swapped");
        Assert.False(File.Exists(Path.Combine(UpdateDir, "trellis-edge.download")), "the download is discarded");
        Assert.Equal(0, _released);
        Assert.Empty(_exits);
        Assert.True(updater.IsMarkedBad(build));
    }

    [Fact]
    public async Task A_download_of_the_wrong_size_is_discarded()
    {
        using var updater = Updater();
        var longer = Encoding.UTF8.GetBytes(GoodAgent + "# padding\n");
        var build = Offer(GoodAgent, version: "1.4.1", served: longer);

        var outcome = await updater.OfferAsync(build, Ct).Within("the oversize download of 1.4.1");

        Assert.True(outcome.Result == UpdateResult.Rejected, outcome.Reason);
        Assert.Contains("size", outcome.Reason);
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
        Assert.Equal(0, _released);
    }

    [Fact]
    public async Task A_refused_download_fails_without_marking_the_build_bad()
    {
        using var updater = Updater(token: "not-the-token");
        var build = Offer(GoodAgent, version: "1.5.0");

        var outcome = await updater.OfferAsync(build, Ct).Within("the refused download of 1.5.0");

        Assert.True(outcome.Result == UpdateResult.Failed, outcome.Reason);
        Assert.Contains("401", outcome.Reason);
        Assert.False(updater.IsMarkedBad(build));
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
    }

    [Fact]
    public async Task When_the_daemon_cannot_let_go_the_update_is_abandoned_without_blaming_the_build()
    {
        using var updater = Updater(releaseFails: true);
        var build = Offer(GoodAgent, version: "1.7.0");

        var outcome = await updater.OfferAsync(build, Ct).Within("the update whose release fails");

        Assert.True(outcome.Result == UpdateResult.Failed, outcome.Reason);
        Assert.Contains("the socket is busy", outcome.Reason);
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
        Assert.False(updater.IsMarkedBad(build));
        Assert.False(File.Exists(Path.Combine(UpdateDir, "new-args")), "the new agent was not started");
        Assert.Equal(1, _resumed);
        Assert.Empty(_exits);
    }

    [Theory]
    [InlineData("1.0.0", Arch, true, "not newer")]
    [InlineData("0.9.9", Arch, true, "not newer")]
    [InlineData("1.0.0-rc.1", Arch, true, "not newer")]
    [InlineData("2.0.0", "linux-arm64", true, "linux-arm64")]
    [InlineData("2.0.0", Arch, false, "auto-update is off")]
    [InlineData("next", Arch, true, "cannot be compared")]
    public async Task Builds_that_are_not_newer_for_another_arch_or_offered_with_auto_update_off_are_ignored(string version, string arch, bool autoUpdate, string why)
    {
        using var updater = Updater(autoUpdate);
        var build = Offer(GoodAgent, version, arch);

        var outcome = await updater.OfferAsync(build, Ct).Within($"the offer of {arch} {version}");

        Assert.True(outcome.Result == UpdateResult.Ignored, outcome.Reason);
        Assert.Contains(why, outcome.Reason);
        Assert.Empty(_server.Requests);
        Assert.Equal(_oldBytes, File.ReadAllBytes(_executable));
        Assert.False(Directory.Exists(UpdateDir), "nothing was written");
    }

    [Fact]
    public async Task A_path_off_the_gateway_is_refused_so_the_token_goes_nowhere_else()
    {
        using var updater = Updater();
        var build = Offer(GoodAgent, version: "1.6.0");
        build.Path = "//elsewhere.example/binary";

        var outcome = await updater.OfferAsync(build, Ct).Within("the offer with a foreign path");

        Assert.True(outcome.Result == UpdateResult.Ignored, outcome.Reason);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public void The_new_agent_signals_ready_only_when_an_update_started_it()
    {
        var ready = _temp.File("ready");
        Assert.False(AgentUpdater.SignalReady(null, null));
        Assert.False(AgentUpdater.SignalReady("", "1.0.0"));
        Assert.False(File.Exists(ready));

        Assert.True(AgentUpdater.SignalReady(ready, "1.0.0"));
        Assert.Contains("from 1.0.0", File.ReadAllText(ready));
        Assert.False(File.Exists(ready + ".tmp"));
    }

    public void Dispose()
    {
        _server.Dispose();
        _temp.Dispose();
    }
}
