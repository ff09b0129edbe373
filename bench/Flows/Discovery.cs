using System.Diagnostics;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Trellis.Flows.Networks;

namespace Trellis.Bench.Flows;

/// <summary>P8d: discovery of N participants — N announcements published to <c>fbp</c>, timed until the cluster lists every
/// one of them, against a raw consumer that takes N such messages from a queue of its own, parses and acks them.</summary>
internal static class Discovery
{
    public static async Task<double> TrellisAsync(string broker, IFlowNetworks networks, string prefix, int count)
    {
        var bodies = Announcements(prefix, count);
        var factory = new ConnectionFactory { Uri = new Uri(broker) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var watch = Stopwatch.StartNew();
        foreach (var body in bodies)
        {
            await channel.BasicPublishAsync("", "fbp", body);
        }

        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            var listed = (await networks.ListParticipantsAsync(CancellationToken.None)).Count(p => p.Definition.Id.StartsWith(prefix, StringComparison.Ordinal));
            if (listed == count)
            {
                return watch.Elapsed.TotalSeconds;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"P8d: {listed} of {count} participants listed after 3 minutes");
            }

            await Task.Delay(100);
        }
    }

    public static async Task<double> RawAsync(string broker, string prefix, int count)
    {
        var bodies = Announcements(prefix, count);
        var factory = new ConnectionFactory { Uri = new Uri(broker) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = (await channel.QueueDeclareAsync($"{prefix}.raw", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.BasicQosAsync(0, 2, false);
        var seen = new HashSet<string>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, ea) =>
        {
            using var doc = JsonDocument.Parse(ea.Body);
            seen.Add(doc.RootElement.GetProperty("payload").GetProperty("id").GetString()!);
            await channel.BasicAckAsync(ea.DeliveryTag, false);
            if (seen.Count == count)
            {
                done.TrySetResult();
            }
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        var watch = Stopwatch.StartNew();
        foreach (var body in bodies)
        {
            await channel.BasicPublishAsync("", queue, body);
        }

        await done.Task.WaitAsync(TimeSpan.FromMinutes(3));
        return watch.Elapsed.TotalSeconds;
    }

    private static List<byte[]> Announcements(string prefix, int count) =>
        Enumerable.Range(0, count).Select(i => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            protocol = "discovery",
            command = "participant",
            payload = new
            {
                id = $"{prefix}-{i}",
                role = $"{prefix}r{i}",
                component = "bench/Repeat",
                label = "Repeats its input",
                inports = new[] { new { id = "in", type = "any", queue = $"{prefix}r{i}.IN" } },
                outports = new[] { new { id = "out", type = "any", queue = $"{prefix}r{i}.OUT" } },
            },
        }))).ToList();
}
