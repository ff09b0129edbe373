using System.Net.Http.Headers;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using static Trellis.Api.Tests.Edge.Admin.EdgeAdminTesting;

namespace Trellis.Api.Tests.Edge.Admin;

/// <summary>trellis.v1.Edge's admin calls over gRPC (h2c) and their JSON transcoding under /v1/edge.</summary>
public sealed class EdgeGrpcTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private static CallOptions As(string? token = AdminToken) => GrpcApi.As(token);

    [Fact]
    public async Task Tokens_devices_discovery_and_builds_over_grpc()
    {
        var client = new Contracts.V1.Edge.EdgeClient(_gateway.Grpc);
        var provider = NewProvider();
        var token = await client.IssueTokenAsync(new IssueTokenRequest { Provider = provider, Grant = { "a.*" } }, As());
        Assert.Equal(provider, token.Provider);
        Assert.StartsWith("tdv_", token.Token, StringComparison.Ordinal);
        Assert.Equal(["a.*"], token.Grant);

        var device = await client.GetDeviceAsync(new DeviceRef { Provider = provider }, As());
        Assert.Equal("offline", device.Status);
        Assert.True(device.HasToken);
        Assert.Contains((await client.ListDevicesAsync(new ListDevicesRequest(), As())).Devices, d => d.Provider == provider);

        var publisher = $"p{Guid.NewGuid():N}"[..10];
        await ConnectAsync(_gateway, provider, "link", (publisher, "temp"));
        var online = await client.GetDeviceAsync(new DeviceRef { Provider = provider }, As());
        Assert.Equal("online", online.Status);
        Assert.Equal("linux-arm64", online.Arch);
        Assert.Equal($"edge.{publisher}.temp.{provider}", online.Services.Single().Topic);
        Assert.Equal("web", online.Jobs.Single().Name);
        Assert.NotNull(online.ConnectedAt);

        var found = await client.DiscoverAsync(new DiscoverRequest { Publisher = publisher }, As());
        Assert.Equal(provider, found.Services.Single().Provider);

        var revoked = await client.RevokeTokenAsync(new DeviceRef { Provider = provider }, As());
        Assert.False(revoked.HasToken);
        Assert.Empty((await client.ListBuildsAsync(new ListBuildsRequest(), As())).Builds);
    }

    [Fact]
    public async Task Errors_map_to_grpc_status_codes()
    {
        var client = new Contracts.V1.Edge.EdgeClient(_gateway.Grpc);
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(() => client.ListDevicesAsync(new ListDevicesRequest(), As(null)).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);
        var denied = await Assert.ThrowsAsync<RpcException>(() => client.ListDevicesAsync(new ListDevicesRequest(), As("not-the-admin-token-0123456789")).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.GetDeviceAsync(new DeviceRef { Provider = NewProvider() }, As()).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var bad = await Assert.ThrowsAsync<RpcException>(() => client.IssueTokenAsync(new IssueTokenRequest { Provider = "UPPER" }, As()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("'UPPER'", bad.Status.Detail, StringComparison.Ordinal);

        var offline = NewProvider();
        await client.IssueTokenAsync(new IssueTokenRequest { Provider = offline }, As());
        var command = await Assert.ThrowsAsync<RpcException>(() => client.CommandAsync(new DeviceCommand { Provider = offline, Method = "GET", Path = "/v1/jobs" }, As()).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, command.StatusCode);
        Assert.Contains("is offline", command.Status.Detail, StringComparison.Ordinal);
        var badCommand = await Assert.ThrowsAsync<RpcException>(() => client.CommandAsync(new DeviceCommand { Provider = offline, Method = "GET", Path = "v1" }, As()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, badCommand.StatusCode);

        var reserved = await Assert.ThrowsAsync<RpcException>(() => new Nodes.NodesClient(_gateway.Grpc).RegisterNodeAsync(new RegisterNodeRequest
        {
            Port = 1,
            HealthCheck = "/health",
            Slots = { new Subscription { Topic = "edge.x.y", Path = "/s" } },
        }, As()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, reserved.StatusCode);
        Assert.Contains("reserved", reserved.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_calls_are_transcoded_under_v1_edge()
    {
        var provider = NewProvider();
        var issued = await _gateway.PostAsync($"/v1/edge/devices/{provider}/token", new { grant = new[] { "x.*" } }, AdminToken);
        Assert.True(issued.Status == 200, issued.Body);
        Assert.StartsWith("tdv_", (string)issued.Json["token"]!, StringComparison.Ordinal);

        var device = await _gateway.GetAsync($"/v1/edge/devices/{provider}", AdminToken);
        Assert.Equal(200, device.Status);
        Assert.Equal(provider, (string)device.Json["provider"]!);
        Assert.True((bool)device.Json["hasToken"]!);
        Assert.Equal(404, (await _gateway.GetAsync($"/v1/edge/devices/{NewProvider()}", AdminToken)).Status);
        Assert.Equal(403, (await _gateway.GetAsync("/v1/edge/devices", "not-the-admin-token-0123456789")).Status);

        var command = await _gateway.PostAsync($"/v1/edge/devices/{provider}/commands", new { method = "GET", path = "/v1/jobs" }, AdminToken);
        Assert.Equal(404, command.Status);
        Assert.Equal(200, (await _gateway.GetAsync("/v1/edge/services?publisher=none", AdminToken)).Status);
        Assert.Equal(200, (await _gateway.GetAsync("/v1/edge/builds", AdminToken)).Status);
        Assert.Equal(200, (await _gateway.DeleteAsync($"/v1/edge/devices/{provider}/token", AdminToken)).Status);
    }
}
