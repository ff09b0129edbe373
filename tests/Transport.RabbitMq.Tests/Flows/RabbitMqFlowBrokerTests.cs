using System.Text;
using RabbitMQ.Client;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.TestKit;
using Trellis.Transport.RabbitMq.Flows;
using Xunit;

namespace Trellis.Transport.RabbitMq.Tests.Flows;

/// <summary>What only the RabbitMQ flow broker has: a connection that can be lost and recovered.</summary>
public sealed class RabbitMqFlowBrokerTests
{
    private readonly string _prefix = $"rf{Guid.NewGuid():N}"[..12];

    [Fact]
    public async Task After_the_connection_is_lost_it_recovers_with_its_consumers_and_taps()
    {
        var target = Broker.Uri;
        await using var proxy = new TcpProxy(target);
        var logs = new LogSink();
        await using var broker = new RabbitMqFlowBroker(
            new RabbitMqOptions { Uri = proxy.Through(target), ConnectionName = "test flows recovery", RecoveryInterval = TimeSpan.FromMilliseconds(200) }, logs);
        await broker.StartAsync(default);
        var (inport, outport) = ($"{_prefix}.survivor.IN", $"{_prefix}.src.OUT");
        await broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        await broker.AddBindingAsync(FlowBinding.PubSub(outport, inport), default);

        var received = new CountdownSignal();
        await using var consumer = await broker.ConsumeAsync(inport, FlowConsumerOptions.Default, async (d, _) =>
        {
            await d.AckAsync();
            received.Increment();
        }, default);
        var tapped = new CountdownSignal();
        await using var tap = await broker.TapAsync(outport, (_, _, _) =>
        {
            tapped.Increment();
            return ValueTask.CompletedTask;
        }, default);

        await broker.PublishAsync(outport, Encoding.UTF8.GetBytes("1"), null, default);
        await received.WaitForAsync(1, "the message before the connection is lost");
        await tapped.WaitForAsync(1, "the tapped message before the connection is lost");

        var recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        broker.Connection!.RecoverySucceededAsync += (_, _) =>
        {
            recovered.TrySetResult();
            return Task.CompletedTask;
        };
        proxy.Cut(refuseNew: true);
        await Waits.UntilAsync(() => broker.IsHealthyAsync(default).AsTask(), healthy => !healthy, "the broker to report the lost connection as unhealthy");
        var down = await Assert.ThrowsAsync<TrellisException>(async () => await broker.PublishAsync(outport, Encoding.UTF8.GetBytes("lost"), null, default));
        Assert.Equal(ErrorKind.Unavailable, down.Kind);

        proxy.Resume();
        await recovered.Task.Within("the connection to recover once the broker is reachable again");
        Assert.True(await broker.IsHealthyAsync(default), "healthy after recovery");

        await broker.PublishAsync(outport, Encoding.UTF8.GetBytes("2"), null, default);
        await received.WaitForAsync(2, "a message for the recovered consumer");
        await tapped.WaitForAsync(2, "a message through the recovered tap");
        Assert.Empty(logs.Errors);
    }

    [Fact]
    public async Task Publishing_to_an_exchange_deleted_behind_our_back_becomes_not_found_and_the_broker_stays_usable()
    {
        var uri = Broker.Uri;
        await using var broker = new RabbitMqFlowBroker(new RabbitMqOptions { Uri = uri, ConnectionName = "test flows deleted" });
        await broker.StartAsync(default);
        var (doomed, inport) = ($"{_prefix}.doomed.OUT", $"{_prefix}.kept.IN");
        await broker.DeclareOutportAsync(doomed, FlowPortOptions.Default, default);
        await broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        await broker.PublishAsync(doomed, Encoding.UTF8.GetBytes("1"), null, default);

        // Another client (msgflo's removeQueue, an operator) deletes it.
        var factory = new ConnectionFactory { Uri = uri };
        await using (var other = await factory.CreateConnectionAsync())
        await using (var channel = await other.CreateChannelAsync())
        {
            await channel.ExchangeDeleteAsync(doomed);
        }

        // The first publish after it is gone may be written before the broker answers with 404; then we know.
        await Waits.UntilAsync(
            async () =>
            {
                try
                {
                    await broker.PublishAsync(doomed, Encoding.UTF8.GetBytes("2"), null, default);
                    return ErrorKind.Unknown;
                }
                catch (TrellisException e)
                {
                    return e.Kind;
                }
            },
            kind => kind == ErrorKind.NotFound,
            $"publishing to the deleted exchange {doomed} to be NotFound");

        var received = new CountdownSignal();
        await using var consumer = await broker.ConsumeAsync(inport, FlowConsumerOptions.Default, async (d, _) =>
        {
            await d.AckAsync();
            received.Increment();
        }, default);
        await broker.PublishAsync(inport, Encoding.UTF8.GetBytes("3"), null, default);
        await received.WaitForAsync(1, $"a message on {inport} after the 404");
        Assert.True(await broker.IsHealthyAsync(default));
    }
}
