using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.Transport.RabbitMq;

namespace Trellis.Bench.RabbitMq;

/// <summary>P2 (perf-anchors R2): request/reply over RabbitMQ through <see cref="MessageBus"/> and
/// <see cref="RabbitMqTransport"/> ÷ a raw RabbitMQ.Client direct reply-to RPC, in one run.</summary>
/// <remarks>
/// Both sides: one echo consumer with the same prefetch, acknowledging each delivery as it arrives; a
/// ~128-byte JSON payload; client and server on separate connections. The raw client publishes to the
/// default exchange without confirms, as the RabbitMQ RPC tutorial does; ours goes through the requests
/// topic exchange with mandatory routing and (by default) publisher confirms, which is what lets it answer
/// 404 and 503 at once. Rounds are interleaved (ours, raw, ours, raw …) after a warm-up, each a fixed
/// number of requests, and medians over the rounds are reported.
/// Usage: <c>bench p2 [amqp-uri] [--rounds N] [--scale F] [--inflight 1,16,64] [--confirm-requests true|false]
/// [--request-channels N] [--raw-exchange default|direct|topic]</c>; the URI defaults to env TRELLIS_BENCH_RABBITMQ.
/// <c>--raw-exchange</c> sends the raw requests through an exchange of that type (default: the default
/// exchange), to tell an exchange's cost on the broker from ours;
/// <c>--broker-pid N</c> (a broker on this machine) adds the broker's CPU time per call.
/// </remarks>
public static class P2
{
    private const int Prefetch = 64;
    internal const string Variable = "TRELLIS_BENCH_RABBITMQ";

    public static async Task<int> RunAsync(string[] args)
    {
        Settings settings;
        try
        {
            settings = Settings.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"P2: {e.Message}");
            return 2;
        }

        if (settings.Uri is null)
        {
            // Part of a run of every benchmark on a machine without a broker: say so, do not fail the others.
            Console.WriteLine($"P2 rabbitmq-rr: skipped, no broker (pass an amqp:// URI or set {Variable}; scripts/rabbitmq.sh start DIR prints one)");
            return 0;
        }

        var payload = Payload(128);
        var id = Guid.NewGuid().ToString("N")[..8];
        Console.WriteLine(
            $"P2 rabbitmq-rr: {settings.Rounds} interleaved rounds per level, payload {payload.Length} B, prefetch {Prefetch}, " +
            $"confirm-requests={settings.ConfirmRequests}, request-channels={settings.RequestChannels}, raw via the {settings.RawExchange} exchange, " +
            $"broker {RedactedHost(settings.Uri)}");

        await using var ours = await OursRig.StartAsync(settings, $"p2.{id}", payload);
        await using var raw = await RawRig.StartAsync(settings.Uri, $"p2.raw.{id}", settings.RawExchange, payload);
        var missed = false;
        foreach (var inFlight in settings.InFlight)
        {
            var count = (int)Math.Max(200, (inFlight == 1 ? 2_000 : inFlight <= 16 ? 10_000 : 20_000) * settings.Scale);
            await MeasureAsync(ours.CallAsync, inFlight, Math.Max(100, count / 4), settings.BrokerPid);
            await MeasureAsync(raw.CallAsync, inFlight, Math.Max(100, count / 4), settings.BrokerPid);

            var oursRounds = new List<Result>();
            var rawRounds = new List<Result>();
            for (var round = 0; round < settings.Rounds; round++)
            {
                Settle();
                oursRounds.Add(await MeasureAsync(ours.CallAsync, inFlight, count, settings.BrokerPid));
                Settle();
                rawRounds.Add(await MeasureAsync(raw.CallAsync, inFlight, count, settings.BrokerPid));
            }

            var o = Result.Median(oursRounds);
            var r = Result.Median(rawRounds);
            var p50Ratio = o.P50Micros / r.P50Micros;
            var throughputRatio = o.PerSecond / r.PerSecond;
            var verdict = "";
            if (inFlight == 16)
            {
                var met = p50Ratio <= 1.2 && throughputRatio >= 0.8;
                missed |= !met;
                verdict = met ? "  goal met (≤1.2× p50, ≥0.8× tput)" : "  goal MISSED (≤1.2× p50, ≥0.8× tput)";
            }

            var broker = settings.BrokerPid > 0
                ? string.Create(CultureInfo.InvariantCulture, $", broker CPU ours={o.BrokerMicros:0}µs raw={r.BrokerMicros:0}µs")
                : "";
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"P2 rabbitmq-rr inflight={inFlight}: ours p50={o.P50Micros:0}µs {o.PerSecond:0}/s  raw p50={r.P50Micros:0}µs {r.PerSecond:0}/s  " +
                $"p50-ratio={p50Ratio:0.00} tput-ratio={throughputRatio:0.00}  (p99 ours={o.P99Micros:0}µs raw={r.P99Micros:0}µs; " +
                $"client+server CPU ours={o.CpuMicros:0}µs raw={r.CpuMicros:0}µs, alloc ours={o.Bytes:0}B raw={r.Bytes:0}B{broker} per call; " +
                $"{count} per round){verdict}"));
        }

        if (missed)
        {
            Console.WriteLine("P2: a goal was missed; see the figures above");
        }

        return 0;
    }

    /// <summary>Runs <paramref name="count"/> calls with <paramref name="inFlight"/> callers, timing each.</summary>
    internal static async Task<Result> MeasureAsync(Func<Task> call, int inFlight, int count, int brokerPid)
    {
        var brokerCpu = BrokerCpuTicks(brokerPid);
        var latencies = new long[count];
        var next = -1;
        var allocated = GC.GetTotalAllocatedBytes(precise: false);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        var callers = new Task[inFlight];
        for (var c = 0; c < inFlight; c++)
        {
            callers[c] = Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    await call().ConfigureAwait(false);
                    latencies[i] = Stopwatch.GetTimestamp() - t0;
                }
            });
        }

        await Task.WhenAll(callers).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var cpuPerCall = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / count;
        var bytesPerCall = (double)(GC.GetTotalAllocatedBytes(precise: false) - allocated) / count;
        var brokerPerCall = brokerPid > 0 ? (BrokerCpuTicks(brokerPid) - brokerCpu) * (1_000_000.0 / 100) / count : 0;
        Array.Sort(latencies);
        return new Result(
            Micros(latencies[count / 2]), Micros(latencies[Math.Min(count - 1, (int)(count * 0.99))]), count / elapsed.TotalSeconds, cpuPerCall, bytesPerCall, brokerPerCall);
    }

    private static double Micros(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    /// <summary>User plus system CPU of a local process in clock ticks (USER_HZ, 100 on Linux), from /proc.</summary>
    private static long BrokerCpuTicks(int pid)
    {
        if (pid <= 0)
        {
            return 0;
        }

        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>Starts each round from a collected heap so one side's garbage does not bill the other.</summary>
    internal static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    internal static byte[] Payload(int size)
    {
        const string head = "{\"pad\":\"";
        const string tail = "\"}";
        return Encoding.UTF8.GetBytes(head + new string('x', size - head.Length - tail.Length) + tail);
    }

    private static string RedactedHost(Uri uri) => $"{uri.Host}:{uri.Port}";

    /// <summary>One round: latency percentiles, throughput, and this process's CPU time and allocations
    /// per call (client and server side together; the broker's own CPU is not included).</summary>
    internal readonly record struct Result(double P50Micros, double P99Micros, double PerSecond, double CpuMicros, double Bytes, double BrokerMicros)
    {
        public static Result Median(List<Result> rounds)
        {
            static double Mid(List<double> values)
            {
                values.Sort();
                return values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
            }

            return new Result(
                Mid(rounds.ConvertAll(r => r.P50Micros)),
                Mid(rounds.ConvertAll(r => r.P99Micros)),
                Mid(rounds.ConvertAll(r => r.PerSecond)),
                Mid(rounds.ConvertAll(r => r.CpuMicros)),
                Mid(rounds.ConvertAll(r => r.Bytes)),
                Mid(rounds.ConvertAll(r => r.BrokerMicros)));
        }
    }

    internal sealed record Settings(Uri? Uri, int Rounds, double Scale, int[] InFlight, bool ConfirmRequests, int RequestChannels, string RawExchange, int BrokerPid)
    {
        public static Settings Parse(string[] args)
        {
            var uri = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } fromEnv ? new Uri(fromEnv) : null;
            int rounds = Math.Max(5, Harness.Rounds), channels = 1;
            var scale = 1.0;
            int[] inFlight = [1, 16, 64];
            var confirm = true;
            var rawExchange = "default";
            var brokerPid = 0;
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--rounds":
                        rounds = Math.Max(5, int.Parse(Value(), CultureInfo.InvariantCulture));
                        break;
                    case "--scale":
                        scale = double.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--inflight":
                        inFlight = Array.ConvertAll(Value().Split(','), s => int.Parse(s, CultureInfo.InvariantCulture));
                        break;
                    case "--confirm-requests":
                        confirm = bool.Parse(Value());
                        break;
                    case "--request-channels":
                        channels = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--raw-exchange":
                        rawExchange = Value() is "default" or "direct" or "topic" ? args[i] : throw new ArgumentException("--raw-exchange takes default, direct or topic");
                        break;
                    case "--broker-pid":
                        brokerPid = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    default:
                        // The bench runner hands every benchmark the whole command line: the benchmark's
                        // name and other benchmarks' options are not ours to refuse.
                        if (args[i].StartsWith("amqp://", StringComparison.Ordinal) || args[i].StartsWith("amqps://", StringComparison.Ordinal))
                        {
                            uri = new Uri(args[i]);
                        }

                        break;
                }
            }

            return new Settings(uri, rounds, scale, inFlight, confirm, channels, rawExchange, brokerPid);
        }
    }

    /// <summary>Our side: an echo service on one bus (its own connection), requested from another.</summary>
    internal sealed class OursRig : IAsyncDisposable
    {
        private readonly MessageBus _server;
        private readonly MessageBus _client;
        private readonly string _topic;
        private readonly JsonPayload _payload;

        private OursRig(MessageBus server, MessageBus client, string topic, JsonPayload payload)
        {
            _server = server;
            _client = client;
            _topic = topic;
            _payload = payload;
        }

        public static async Task<OursRig> StartAsync(Settings settings, string prefix, byte[] payload)
        {
            RabbitMqTransport Transport(string name) => new(new RabbitMqOptions
            {
                Uri = settings.Uri,
                Prefix = prefix,
                ConnectionName = name,
                ConfirmRequests = settings.ConfirmRequests,
                RequestChannels = settings.RequestChannels,
            });

            var options = new MessagingOptions { HandlerConcurrency = Prefetch };
            var server = await MessageBus.StartAsync(Transport("p2 ours server"), options);
            var client = await MessageBus.StartAsync(Transport("p2 ours client"), options);
            var topic = $"{prefix}.echo";
            await server.ReplyToAsync(topic, "_default", static (request, _) => ValueTask.FromResult(new Message(request.Data)));
            return new OursRig(server, client, topic, JsonPayload.FromTrustedUtf8(payload));
        }

        public async Task CallAsync()
        {
            var reply = await _client.RequestAsync(_topic, _payload, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            if (reply.Code != Codes.Ok)
            {
                throw new InvalidOperationException($"our echo answered {reply.Code}: {reply.Data}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _client.DisposeAsync();
            await _server.DisposeAsync();
        }
    }

    /// <summary>The baseline: RabbitMQ.Client alone, an echo consumer and a direct reply-to client.</summary>
    private sealed class RawRig : IAsyncDisposable
    {
        private const string DirectReplyTo = "amq.rabbitmq.reply-to";

        private readonly IConnection _serverConnection;
        private readonly IConnection _clientConnection;
        private readonly IChannel _client;
        private readonly string _exchange;
        private readonly string _queue;
        private readonly ReadOnlyMemory<byte> _payload;
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _pending = new(StringComparer.Ordinal);
        private long _sequence;

        private RawRig(IConnection serverConnection, IConnection clientConnection, IChannel client, string exchange, string queue, byte[] payload)
        {
            _serverConnection = serverConnection;
            _clientConnection = clientConnection;
            _client = client;
            _exchange = exchange;
            _queue = queue;
            _payload = payload;
        }

        public static async Task<RawRig> StartAsync(Uri uri, string queue, string exchangeType, byte[] payload)
        {
            var factory = new ConnectionFactory { Uri = uri };
            var serverConnection = await factory.CreateConnectionAsync("p2 raw server");
            var server = await serverConnection.CreateChannelAsync();
            await server.BasicQosAsync(0, Prefetch, global: false);
            await server.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: true);
            var exchange = "";
            if (exchangeType != "default")
            {
                exchange = $"{queue}.{exchangeType}";
                await server.ExchangeDeclareAsync(exchange, exchangeType, durable: false, autoDelete: true);
                await server.QueueBindAsync(queue, exchange, queue);
            }

            await server.BasicConsumeAsync(queue, autoAck: false, new EchoConsumer(server));

            var clientConnection = await factory.CreateConnectionAsync("p2 raw client");
            var client = await clientConnection.CreateChannelAsync();
            var rig = new RawRig(serverConnection, clientConnection, client, exchange, queue, payload);
            await client.BasicConsumeAsync(DirectReplyTo, autoAck: true, new ReplyConsumer(client, rig._pending));
            return rig;
        }

        public async Task CallAsync()
        {
            var id = Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = done;
            var properties = new BasicProperties { CorrelationId = id, ReplyTo = DirectReplyTo };
            await _client.BasicPublishAsync(_exchange, _queue, mandatory: false, properties, _payload).ConfigureAwait(false);
            await done.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync()
        {
            await _clientConnection.CloseAsync();
            await _serverConnection.CloseAsync();
            await _clientConnection.DisposeAsync();
            await _serverConnection.DisposeAsync();
        }

        private sealed class EchoConsumer(IChannel channel) : AsyncDefaultBasicConsumer(channel)
        {
            public override async Task HandleBasicDeliverAsync(
                string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
                IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
            {
                await Channel.BasicAckAsync(deliveryTag, multiple: false, cancellationToken).ConfigureAwait(false);
                var reply = new BasicProperties { CorrelationId = properties.CorrelationId };
                await Channel.BasicPublishAsync("", properties.ReplyTo!, mandatory: false, reply, body, cancellationToken).ConfigureAwait(false);
            }
        }

        private sealed class ReplyConsumer(IChannel channel, ConcurrentDictionary<string, TaskCompletionSource> pending) : AsyncDefaultBasicConsumer(channel)
        {
            public override Task HandleBasicDeliverAsync(
                string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
                IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
            {
                // The same work a real client does with a reply: keep its body.
                _ = body.ToArray();
                if (properties.CorrelationId is { } id && pending.TryRemove(id, out var done))
                {
                    done.TrySetResult();
                }

                return Task.CompletedTask;
            }
        }
    }
}
