using System.Text;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Flows.Tests.Broker;

/// <summary>What only the in-process broker has: its bounded queues.</summary>
public sealed class InMemoryFlowBrokerTests
{
    private static readonly ReadOnlyMemory<byte> Body = Encoding.UTF8.GetBytes("{}");

    [Fact]
    public async Task A_full_queue_refuses_sends_and_publishes_naming_itself_and_takes_more_once_drained()
    {
        await using var broker = new InMemoryFlowBroker(maxQueueLength: 3);
        await broker.DeclareInportAsync("full.IN", FlowPortOptions.Default, default);
        await broker.DeclareInportAsync("roomy.IN", FlowPortOptions.Default, default);
        await broker.DeclareOutportAsync("src.OUT", FlowPortOptions.Default, default);
        await broker.AddBindingAsync(FlowBinding.PubSub("src.OUT", "full.IN"), default);
        await broker.AddBindingAsync(FlowBinding.PubSub("src.OUT", "roomy.IN"), default);
        for (var i = 0; i < 3; i++)
        {
            await broker.SendToQueueAsync("full.IN", Body, null, default);
        }

        var sent = await Assert.ThrowsAsync<TrellisException>(async () => await broker.SendToQueueAsync("full.IN", Body, null, default));
        Assert.Equal(ErrorKind.ResourceExhausted, sent.Kind);
        Assert.Contains("'full.IN'", sent.Message, StringComparison.Ordinal);

        // A publish still reaches the queues with room, and names the one without.
        var published = await Assert.ThrowsAsync<TrellisException>(async () => await broker.PublishAsync("src.OUT", Body, null, default));
        Assert.Equal(ErrorKind.ResourceExhausted, published.Kind);
        Assert.Contains("'full.IN'", published.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("roomy.IN", published.Message, StringComparison.Ordinal);

        var received = new CountdownSignal();
        await using var consumer = await broker.ConsumeAsync("full.IN", FlowConsumerOptions.Default, async (d, _) =>
        {
            await d.AckAsync();
            received.Increment();
        }, default);
        await received.WaitForAsync(3, "the three queued messages");
        await broker.SendToQueueAsync("full.IN", Body, null, default);
        await received.WaitForAsync(4, "a message sent once the queue had room");

        var roomy = new CountdownSignal();
        await using var other = await broker.ConsumeAsync("roomy.IN", FlowConsumerOptions.Default, async (d, _) =>
        {
            await d.AckAsync();
            roomy.Increment();
        }, default);
        await roomy.WaitForAsync(1, "the publish on the queue that had room");
    }

    [Fact]
    public async Task Disposing_the_broker_stops_its_consumers_and_refuses_further_use()
    {
        var broker = new InMemoryFlowBroker();
        await broker.DeclareInportAsync("q.IN", FlowPortOptions.Default, default);
        await broker.ConsumeAsync("q.IN", FlowConsumerOptions.Default, static (d, _) => d.AckAsync(), default);
        await broker.DisposeAsync();
        Assert.False(await broker.IsHealthyAsync(default));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await broker.SendToQueueAsync("q.IN", Body, null, default));
    }
}
