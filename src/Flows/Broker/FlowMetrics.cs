using System.Diagnostics.Metrics;
using Trellis.Core.Diagnostics;

namespace Trellis.Flows.Broker;

/// <summary>Flow messages where Trellis is in the data path (<c>trellis.flow.messages</c>): what a participant it serves (a
/// node's ports, an activity) sends on an outport, and what is delivered to its inports, by source and target.</summary>
/// <remarks>Edges between two AMQP participants are not seen: the coordinator only binds their queues, the broker carries
/// the messages. The graph is not known where a message passes (a queue may be wired by several graphs), so an edge is
/// named by its ends: the outport exchange it came from and the inport queue it reached.</remarks>
public static class FlowMetrics
{
    /// <summary>The outport exchange a message left by (<c>&lt;role&gt;.&lt;PORT&gt;</c>).</summary>
    public const string SourceTag = "trellis.flow.src";

    /// <summary>The inport queue a message was delivered from; absent on messages sent.</summary>
    public const string TargetTag = "trellis.flow.tgt";

    /// <summary><c>sent</c> (published on an outport) or <c>delivered</c> (to an inport).</summary>
    public const string DirectionTag = "trellis.flow.direction";

    /// <summary>What a message sent straight to a queue (not through an outport) names as its source.</summary>
    public const string DirectSource = "amq.default";

    public static readonly Counter<long> Messages = TrellisTelemetry.Meter.CreateCounter<long>(
        "trellis.flow.messages", "{message}", "Flow messages sent on and delivered to the ports of participants this process serves");

    /// <summary>Counts a message published on <paramref name="outport"/>.</summary>
    public static void Sent(string outport)
    {
        if (Messages.Enabled)
        {
            Messages.Add(1, new KeyValuePair<string, object?>(DirectionTag, "sent"), new KeyValuePair<string, object?>(SourceTag, outport));
        }
    }

    /// <summary>Counts a message from <paramref name="exchange"/> delivered to the inport queue <paramref name="queue"/>.</summary>
    public static void Delivered(string exchange, string queue)
    {
        if (Messages.Enabled)
        {
            Messages.Add(
                1,
                new KeyValuePair<string, object?>(DirectionTag, "delivered"),
                new KeyValuePair<string, object?>(SourceTag, exchange.Length == 0 ? DirectSource : exchange),
                new KeyValuePair<string, object?>(TargetTag, queue));
        }
    }
}
