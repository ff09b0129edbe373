using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Messaging;
using Trellis.Edge.Link;
using Trellis.Edge.Services;
using Trellis.Hosting.Messaging;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Edge.Link;

/// <summary>A gateway restart under a live link: the agent reconnects by itself and its services are served again.</summary>
public sealed class EdgeLinkRestartTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task The_agent_reconnects_to_a_restarted_gateway_and_its_services_are_served_again()
    {
        var ports = FreePorts.Take(3);
        var settings = new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = $"http://127.0.0.1:{ports[0]}",
            ["Trellis:Grpc:Url"] = $"http://127.0.0.1:{ports[1]}",
        };
        var db = _folder.File("trellis.db");
        await using var program = await DeviceProgram.StartAsync();
        var provider = Devices.NewProvider();
        TestDevice device;

        var first = await TestGateway.StartAsync(db, settings);
        var firstHost = await LinkHost.StartAsync(first, port: ports[2]);
        try
        {
            var token = await Devices.IssueTokenAsync(first, provider);
            device = new TestDevice(firstHost.Address, provider, token);
            device.Services.Publish(new LocalService("acme", "echo", new Uri(program.Address, "/echo").ToString(), Scope.Wan));
            device.Start();
            await device.WaitUpAsync("before the restart");
            var reply = await Request(first, "\"before\"");
            Assert.True(reply.Code == 200, $"before the restart: {reply.Code} {reply.Data}");
        }
        finally
        {
            await firstHost.DisposeAsync();
            await first.DisposeAsync();
        }

        await using (device)
        {
            await device.WaitStateAsync(LinkState.Down, "while the gateway is away");

            await using var second = await TestGateway.StartAsync(db, settings);
            await using var secondHost = await LinkHost.StartAsync(second, port: ports[2]);
            await device.WaitUpAsync("after the restart");
            var again = await Waits.UntilAsync(() => Request(second, "\"after\""), m => m.Code == 200, "edge.acme.echo to answer after the restart");
            Assert.Contains("\"echo\":\"after\"", again.Data.ToString());
            await device.DisposeAsync();
        }
    }

    private static Task<Message> Request(TestGateway gateway, string json) =>
        gateway.Services.GetRequiredService<BusHost>().Bus.RequestAsync("edge.acme.echo", JsonPayload.Parse(json), TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
}
