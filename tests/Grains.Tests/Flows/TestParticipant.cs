using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Flows.Broker;

namespace Trellis.Grains.Tests.Flows;

/// <summary>A participant on the broker as msgflo-nodejs makes one: it declares <c>&lt;role&gt;.IN</c> (queue) and
/// <c>&lt;role&gt;.OUT</c> (exchange), announces itself on <c>fbp</c>, and turns every message of its inqueue into one on
/// its outport (or nacks it).</summary>
public sealed class TestParticipant : IAsyncDisposable
{
    private readonly IFlowBroker _broker;
    private readonly double? _heartbeat;
    private IAsyncDisposable? _consumer;

    private TestParticipant(IFlowBroker broker, string role, double? heartbeat)
    {
        _broker = broker;
        Role = role;
        Id = $"{role}-{Guid.NewGuid():N}";
        _heartbeat = heartbeat;
    }

    public string Id { get; }

    public string Role { get; }

    public string Inqueue => $"{Role}.IN";

    public string Outport => $"{Role}.OUT";

    /// <summary>What reached the inqueue, in order.</summary>
    public ConcurrentQueue<string> Received { get; } = new();

    public static async Task<TestParticipant> StartAsync(
        IFlowBroker broker, string role, Func<JsonNode?, JsonNode?>? transform = null, bool nack = false, double? heartbeat = null, bool announce = true)
    {
        var p = new TestParticipant(broker, role, heartbeat);
        await broker.DeclareInportAsync(p.Inqueue, FlowPortOptions.Default, default);
        await broker.DeclareOutportAsync(p.Outport, FlowPortOptions.Default, default);
        p._consumer = await broker.ConsumeAsync(p.Inqueue, FlowConsumerOptions.Default, async (delivery, ct) =>
        {
            var text = Encoding.UTF8.GetString(delivery.Body.Span);
            p.Received.Enqueue(text);
            if (nack)
            {
                await delivery.NackAsync();
                return;
            }

            var output = (transform ?? (static d => d))(JsonNode.Parse(text));
            await broker.PublishAsync(p.Outport, Encoding.UTF8.GetBytes(output?.ToJsonString() ?? "null"), null, ct);
            await delivery.AckAsync();
        }, default);
        if (announce)
        {
            await p.AnnounceAsync();
        }

        return p;
    }

    /// <summary>Sends the discovery message msgflo-nodejs sends.</summary>
    public async Task AnnounceAsync()
    {
        var payload = new JsonObject
        {
            ["id"] = Id,
            ["role"] = Role,
            ["component"] = "test/" + Role,
            ["label"] = "a test participant",
            ["icon"] = "cog",
            ["inports"] = new JsonArray(new JsonObject { ["id"] = "in", ["type"] = "any", ["queue"] = Inqueue }),
            ["outports"] = new JsonArray(new JsonObject { ["id"] = "out", ["type"] = "any", ["queue"] = Outport }),
        };
        if (_heartbeat is { } h)
        {
            payload["heartbeat"] = h;
        }

        var message = new JsonObject { ["protocol"] = "discovery", ["command"] = "participant", ["payload"] = payload };
        await _broker.SendToQueueAsync(FlowNames.DiscoveryQueue, Encoding.UTF8.GetBytes(message.ToJsonString()), null, default);
    }

    public async ValueTask DisposeAsync()
    {
        if (_consumer is not null)
        {
            await _consumer.DisposeAsync();
        }
    }
}
