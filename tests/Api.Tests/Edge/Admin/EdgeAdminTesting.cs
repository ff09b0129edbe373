using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Tests.Edge.Admin;

/// <summary>Helpers of the edge admin tests: unique provider ids, and a device made known or online by calling its grain
/// through the gateway's cluster client, as the gateway holding a link does.</summary>
internal static class EdgeAdminTesting
{
    public const string AdminToken = TestGateway.AdminToken;

    public static string NewProvider() => $"t{Guid.NewGuid():N}"[..13];

    public static IDeviceGrain Device(TestGateway gateway, string provider) =>
        gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(provider);

    /// <summary>Makes the device online on link <paramref name="linkId"/> with these services and one job.</summary>
    public static Task ConnectAsync(TestGateway gateway, string provider, string linkId, params (string Publisher, string Service)[] services) =>
        Device(gateway, provider).Connected(linkId, "test-gateway", new DeviceHello(
            "1.0.0", "linux-arm64", $"host-{provider}", [.. services.Select(static s => new DeviceServiceName(s.Publisher, s.Service))],
            [new DeviceJob("j1", "web", "", DateTimeOffset.UnixEpoch, "running", 1)], AutoUpdate: true), TimeSpan.FromMinutes(5));

    public static async Task<string> IssueTokenAsync(TestGateway gateway, string provider, params string[] grant)
    {
        var response = await gateway.PostAsync($"/edge/devices/{provider}/token", new { grant }, AdminToken);
        Assert.True(response.Status == 200, $"POST /edge/devices/{provider}/token answered {response.Status}: {response.Body}");
        return (string)response.Json["token"]!;
    }

    public static async Task<Core.Bus.MessageBus> BusAsync(TestGateway gateway) =>
        await gateway.Services.GetRequiredService<BusHost>().Started;
}
