using System.Diagnostics;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Trellis.Bench.Flows;

/// <summary>Drives a pipeline from outside with raw RabbitMQ.Client, the same way whoever wired it: a temporary queue
/// bound to the last outport exchange, then N numbers sent straight to the first inqueue; the rate is N over the time
/// until the last one comes out.</summary>
internal static class PipelineDriver
{
    public static async Task<double> RunAsync(string broker, string inQueue, string outExchange, int count, TimeSpan timeout)
    {
        var factory = new ConnectionFactory { Uri = new Uri(broker) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var tap = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);
        await channel.QueueBindAsync(tap.QueueName, outExchange, "");
        var received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, _) =>
        {
            if (Interlocked.Increment(ref received) == count)
            {
                done.TrySetResult();
            }

            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(tap.QueueName, autoAck: true, consumer);

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await channel.BasicPublishAsync("", inQueue, Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        try
        {
            await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Volatile.Read(ref received)} of {count} messages came out of {outExchange} within {timeout.TotalSeconds:0} s");
        }

        return Harness.Rate(count, watch);
    }
}
