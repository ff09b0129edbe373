using System.Text;
using System.Text.Json.Nodes;
using Trellis.Flows.Broker;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>A tiny msgflo participant run in the test on <see cref="IFlowBroker"/>: it declares <c>&lt;role&gt;.IN</c>
/// (and <c>&lt;role&gt;.OUT</c> when it has an outport), announces itself on <c>fbp</c> as msgflo-nodejs does, and
/// forwards what it consumes (Repeat) or only acknowledges it (Drop).</summary>
internal sealed class TestParticipant : IAsyncDisposable
{
    private readonly IAsyncDisposable _consumer;

    private TestParticipant(IAsyncDisposable consumer) => _consumer = consumer;

    public static async Task<TestParticipant> StartAsync(IFlowBroker broker, string role, string component, bool repeat, CancellationToken cancellationToken)
    {
        var inQueue = $"{role}.IN";
        var outExchange = $"{role}.OUT";
        await broker.StartAsync(cancellationToken);
        await broker.DeclareInportAsync(inQueue, new FlowPortOptions(), cancellationToken);
        if (repeat)
        {
            await broker.DeclareOutportAsync(outExchange, new FlowPortOptions(), cancellationToken);
        }

        var consumer = await broker.ConsumeAsync(inQueue, new FlowConsumerOptions(), async (delivery, ct) =>
        {
            if (repeat)
            {
                await broker.PublishAsync(outExchange, delivery.Body.ToArray(), null, ct);
            }

            await delivery.AckAsync();
        }, cancellationToken);

        var outports = new JsonArray();
        if (repeat)
        {
            outports.Add(new JsonObject { ["id"] = "out", ["type"] = "all", ["queue"] = outExchange });
        }

        var announcement = new JsonObject
        {
            ["protocol"] = "discovery",
            ["command"] = "participant",
            ["payload"] = new JsonObject
            {
                ["id"] = $"{role}-{Guid.NewGuid():N}",
                ["role"] = role,
                ["component"] = component,
                ["label"] = repeat ? "Forwards its input" : "Drops its input",
                ["icon"] = repeat ? "forward" : "trash",
                ["inports"] = new JsonArray(new JsonObject { ["id"] = "in", ["type"] = "all", ["queue"] = inQueue, ["description"] = "what to " + (repeat ? "repeat" : "drop") }),
                ["outports"] = outports,
            },
        };
        await broker.DeclareQueueAsync(FlowNames.DiscoveryQueue, cancellationToken);
        await broker.SendToQueueAsync(FlowNames.DiscoveryQueue, Encoding.UTF8.GetBytes(announcement.ToJsonString()), null, cancellationToken);
        return new TestParticipant(consumer);
    }

    public ValueTask DisposeAsync() => _consumer.DisposeAsync();
}
