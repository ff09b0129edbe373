using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows;
using Trellis.TestKit;
using Trellis.TestKit.Net;

namespace Trellis.Api.Tests.Flows;

/// <summary>A test silo on a RabbitMQ virtual host of its own (one <c>fbp</c> discovery queue per test) with the stock
/// msgflo-nodejs participants a test starts; disposing kills every participant, stops the silo and deletes the host.</summary>
internal sealed class MsgFloCluster : IAsyncDisposable
{
    private readonly List<MsgFloParticipant> _participants = [];
    private readonly List<IAsyncDisposable> _watches = [];
    private readonly RabbitMqVirtualHost _vhost;

    private MsgFloCluster(RabbitMqVirtualHost vhost, TestGateway gateway)
    {
        _vhost = vhost;
        Gateway = gateway;
    }

    public TestGateway Gateway { get; }

    /// <summary>The AMQP URI of the virtual host (what participants and msgflo's tools get as the broker).</summary>
    public string Broker => _vhost.Uri;

    public IFlowNetworks Networks => Gateway.Services.GetRequiredService<IFlowNetworks>();

    public IFlowBroker FlowBroker => Gateway.Services.GetRequiredService<IFlowBroker>();

    /// <summary>Makes the virtual host and starts a silo on it that holds its <c>fbp</c> queue (skips without a broker).</summary>
    public static async Task<MsgFloCluster> StartAsync(string what)
    {
        var vhost = await RabbitMqVirtualHost.CreateAsync(what);
        try
        {
            var settings = new Dictionary<string, string?>
            {
                ["Trellis:Transport:Provider"] = "RabbitMq",
                ["Trellis:Transport:RabbitMq:Uri"] = vhost.Uri,
                ["Trellis:Flows:DiscoveryRetry"] = "0.5",
            };
            var gateway = await TestGateway.StartAsync(settings: settings);
            var cluster = new MsgFloCluster(vhost, gateway);
            var discovery = gateway.Services.GetRequiredService<FlowDiscoveryService>();
            await Waits.UntilAsync(() => Task.FromResult(discovery.Holding), h => h, "the test silo to hold the fbp queue");
            return cluster;
        }
        catch
        {
            await vhost.DisposeAsync();
            throw;
        }
    }

    /// <summary>A role name unique to this test: letters and digits only (valid as a .fbp node name and a queue prefix).</summary>
    public static string Unique(string role) => $"{role}{Guid.NewGuid():N}"[..(role.Length + 8)];

    /// <summary>Starts <paramref name="module"/> of tests/Interop/flows as <paramref name="role"/> on this host.</summary>
    public MsgFloParticipant Start(string module, string role)
    {
        var p = MsgFloParticipant.Start(module, role, Broker);
        _participants.Add(p);
        return p;
    }

    /// <summary>Waits until the cluster lists an online participant of each role.</summary>
    public Task ListedAsync(params string[] roles) =>
        Waits.UntilAsync(
            async () => (await Networks.ListParticipantsAsync(CancellationToken.None)).Where(p => p.Status == ParticipantStatus.Online).Select(p => p.Definition.Role).ToHashSet(),
            seen => roles.All(seen.Contains),
            $"participants {string.Join(", ", roles)} to be listed online ({Outputs(roles)})",
            TimeSpan.FromSeconds(60));

    /// <summary>What is published on <paramref name="exchange"/> from now on (a tap: a private queue bound to it).</summary>
    public async Task<ConcurrentQueue<string>> TapAsync(string exchange)
    {
        var seen = new ConcurrentQueue<string>();
        _watches.Add(await FlowBroker.TapAsync(exchange, (_, body, _) =>
        {
            seen.Enqueue(Encoding.UTF8.GetString(body.Span));
            return ValueTask.CompletedTask;
        }, CancellationToken.None));
        return seen;
    }

    /// <summary>What the participants of these roles printed, for failure messages.</summary>
    public string Outputs(params string[] roles) =>
        string.Join("; ", _participants.Where(p => roles.Contains(p.Role)).Select(p => $"{p.Role}: {p.Output}"));

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var w in _watches)
            {
                await w.DisposeAsync();
            }
        }
        finally
        {
            try
            {
                foreach (var p in _participants)
                {
                    await p.DisposeAsync();
                }

                await Gateway.DisposeAsync();
            }
            finally
            {
                await _vhost.DisposeAsync();
            }
        }
    }
}
