using Trellis.Grains.Devices;
using Xunit;

namespace Trellis.Grains.Tests.Devices;

/// <summary>The device grain: tokens (issued once, kept as a hash, revoked), its link (connected, seen, disconnected, a
/// stale link ignored), offline after missed heartbeats on a moved clock, cheap heartbeats, and its state across a
/// silo restart.</summary>
public sealed class DeviceGrainTests(DeviceCluster devices) : IClassFixture<DeviceCluster>
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(10);

    private static string Provider() => $"d-{Guid.NewGuid():N}"[..14];

    private static DeviceHello Hello(params DeviceServiceName[] services) =>
        new("1.2.3", "linux-arm64", "pi", services, [new DeviceJob("j1", "web", "", null, "running", 0)], AutoUpdate: true);

    private IDeviceGrain Device(string provider) => devices.Client.GetGrain<IDeviceGrain>(provider);

    [Fact]
    public async Task A_token_is_random_prefixed_url_safe_and_authenticates_only_until_replaced_or_revoked()
    {
        var provider = Provider();
        var device = Device(provider);
        Assert.Null(await device.Get());

        var token = await device.IssueToken(["sensors.*"]);
        Assert.StartsWith("tdv_", token, StringComparison.Ordinal);
        Assert.Equal(4 + 43, token.Length);
        Assert.All(token[4..], static c => Assert.True(char.IsAsciiLetterOrDigit(c) || c is '-' or '_', $"'{c}' is not URL-safe base64"));
        Assert.Equal(new[] { "sensors.*" }, await device.Authenticate(token));
        Assert.Null(await device.Authenticate(token + "x"));
        Assert.Null(await device.Authenticate(""));

        var record = await device.Get();
        Assert.NotNull(record);
        Assert.True(record.HasToken);
        Assert.False(record.Online);
        Assert.Equal(["sensors.*"], record.Grant);
        Assert.Contains(provider, await devices.Client.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key).List());

        var second = await device.IssueToken([]);
        Assert.NotEqual(token, second);
        Assert.Null(await device.Authenticate(token));
        Assert.Equal(Array.Empty<string>(), await device.Authenticate(second));

        Assert.True(await device.RevokeToken());
        Assert.Null(await device.Authenticate(second));
        Assert.False(await device.RevokeToken());
        Assert.False((await device.Get())?.HasToken ?? false);
    }

    [Fact]
    public async Task Connected_seen_and_disconnected_follow_the_current_link_and_ignore_a_stale_one()
    {
        var provider = Provider();
        var device = Device(provider);
        await device.Connected("link-1", "gw-a", Hello(new DeviceServiceName("acme", "temp")), Heartbeat);
        var first = await device.Get();
        Assert.NotNull(first);
        Assert.True(first.Online);
        Assert.Equal("gw-a", first.Gateway);
        Assert.Equal("1.2.3", first.Hello!.Version);
        Assert.Equal([new DeviceServiceName("acme", "temp")], first.Services);
        Assert.Equal("web", first.Jobs.Single().Name);
        Assert.Contains(provider, await devices.Client.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key).List());

        // The device reconnects through another gateway before the first link's end is reported.
        await device.Connected("link-2", "gw-b", Hello(), Heartbeat);
        await device.Disconnected("link-1");
        await device.SetServices("link-1", [new("stale", "svc")]);
        await device.SetJobs("link-1", []);
        var second = await device.Get();
        Assert.True(second!.Online);
        Assert.Equal("gw-b", second.Gateway);
        Assert.Empty(second.Services);
        Assert.Single(second.Jobs);

        await device.SetServices("link-2", [new("acme", "cam")]);
        await device.SetJobs("link-2", []);
        var changed = await device.Get();
        Assert.Equal([new DeviceServiceName("acme", "cam")], changed!.Services);
        Assert.Empty(changed.Jobs);

        await device.Disconnected("link-2");
        var gone = await device.Get();
        Assert.False(gone!.Online);
        Assert.Null(gone.Gateway);
        Assert.NotNull(gone.LastSeen);
    }

    [Fact]
    public async Task A_device_is_offline_after_three_missed_heartbeats_and_online_again_when_seen()
    {
        var device = Device(Provider());
        await device.Connected("link", "gw", Hello(), Heartbeat);

        devices.Clock.Advance(Heartbeat * 2);
        Assert.True((await device.Get())!.Online);
        await device.Seen("link");
        devices.Clock.Advance(DeviceRecord.OfflineAfter(Heartbeat) - TimeSpan.FromSeconds(1));
        Assert.True((await device.Get())!.Online);

        devices.Clock.Advance(TimeSpan.FromSeconds(2));
        var offline = await device.Get();
        Assert.False(offline!.Online);

        await device.Seen("other-link");
        Assert.False((await device.Get())!.Online);
        await device.Seen("link");
        Assert.True((await device.Get())!.Online);
    }

    [Fact]
    public async Task Heartbeats_write_the_last_seen_time_at_most_once_a_minute()
    {
        var provider = Provider();
        var device = Device(provider);
        await device.Connected("link", "gw", Hello(), Heartbeat);
        var id = device.GetGrainId();
        var written = devices.Storage.Writes(id);

        for (var i = 0; i < 5; i++)
        {
            devices.Clock.Advance(Heartbeat);
            await device.Seen("link");
        }

        Assert.Equal(written, devices.Storage.Writes(id));
        var seen = (await device.Get())!.LastSeen;

        devices.Clock.Advance(DeviceGrain.LastSeenWriteInterval);
        await device.Seen("link");
        Assert.Equal(written + 1, devices.Storage.Writes(id));
        Assert.True((await device.Get())!.LastSeen > seen);
    }

    [Fact]
    public async Task Token_grant_hello_services_jobs_and_link_survive_a_silo_restart()
    {
        var provider = Provider();
        var token = await Device(provider).IssueToken(["a.*", "b"]);
        await Device(provider).Connected("link", "gw", Hello(new DeviceServiceName("acme", "temp")), Heartbeat);
        await Device(provider).SetJobs("link", [new DeviceJob("j9", "db", "g", DateTimeOffset.UnixEpoch, "stopped", 2)]);

        await devices.RestartAsync();

        var device = Device(provider);
        Assert.Equal(new[] { "a.*", "b" }, await device.Authenticate(token));
        var record = await device.Get();
        Assert.NotNull(record);
        Assert.True(record.HasToken);
        Assert.True(record.Online);
        Assert.Equal("gw", record.Gateway);
        Assert.Equal("linux-arm64", record.Hello!.Arch);
        Assert.Equal([new DeviceServiceName("acme", "temp")], record.Services);
        Assert.Equal(new DeviceJob("j9", "db", "g", DateTimeOffset.UnixEpoch, "stopped", 2), record.Jobs.Single());
        Assert.Contains(provider, await devices.Client.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key).List());

        // The link id survives too: the gateway holding it goes on reporting after the restart.
        await device.Seen("link");
        Assert.True((await device.Get())!.Online);
    }

    [Fact]
    public async Task A_device_with_an_invalid_provider_id_is_never_created()
    {
        var bad = Device("Not_Valid");
        var issue = await Assert.ThrowsAsync<ArgumentException>(() => bad.IssueToken([]));
        Assert.Contains("'Not_Valid'", issue.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => bad.Connected("l", "gw", Hello(), Heartbeat));
        Assert.Null(await bad.Get());
    }

    [Fact]
    public void Provider_ids_are_1_to_64_lowercase_letters_digits_and_dashes()
    {
        Assert.True(DeviceIds.IsValid("0242ac110002"));
        Assert.True(DeviceIds.IsValid("pi-kitchen-1"));
        Assert.True(DeviceIds.IsValid(new string('a', 64)));
        Assert.False(DeviceIds.IsValid(new string('a', 65)));
        Assert.False(DeviceIds.IsValid(""));
        Assert.False(DeviceIds.IsValid("Pi"));
        Assert.False(DeviceIds.IsValid("a.b"));
        Assert.False(DeviceIds.IsValid("a_b"));
        Assert.Contains("'Pi'", DeviceIds.Problem("Pi"), StringComparison.Ordinal);
        Assert.Null(DeviceIds.Problem("abc"));
    }
}
