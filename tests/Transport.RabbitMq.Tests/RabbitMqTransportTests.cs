using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;
using Trellis.TestKit;
using Trellis.Transport.RabbitMq.Internal;
using Xunit;

namespace Trellis.Transport.RabbitMq.Tests;

/// <summary>What is particular to RabbitMQ: names and properties on the broker, interop with other AMQP
/// clients, the options that trade guarantees for speed, and losing the connection.</summary>
public sealed class RabbitMqTransportTests : IAsyncLifetime
{
    private static readonly string Prefix = Broker.NewPrefix("rmq");
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly string _topicPrefix = $"r{Guid.NewGuid():N}"[..13];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    private string Topic(string name) => $"{_topicPrefix}.{name}";

    private async Task<MessageBus> ProcessAsync(Action<RabbitMqOptions>? configure = null, Uri? uri = null, LogSink? logs = null)
    {
        var transport = Broker.Transport(Prefix, configure, uri, logs);
        var bus = await MessageBus.StartAsync(transport, loggers: logs);
        _owned.Add(bus);
        return bus;
    }

    private async Task<IChannel> RawChannelAsync()
    {
        var connection = await new ConnectionFactory { Uri = Broker.Uri }.CreateConnectionAsync("raw test client");
        _owned.Add(connection);
        return await connection.CreateChannelAsync();
    }

    // ------------------------------------------------------------------ without a broker

    [Fact]
    public async Task A_transport_that_is_not_started_says_so()
    {
        await using var transport = new RabbitMqTransport(new RabbitMqOptions { Uri = new Uri("amqp://127.0.0.1:1/") });
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await transport.PublishAsync(ExchangeKind.Signals, new TransportMessage { Topic = "a" }, default));
        Assert.Contains("StartAsync", e.Message);
        Assert.False(await transport.IsHealthyAsync(default));
    }

    [Fact]
    public async Task Starting_without_a_broker_fails_as_unavailable_naming_the_broker_but_not_the_password()
    {
        await using var transport = new RabbitMqTransport(new RabbitMqOptions { Uri = new Uri("amqp://guest:s3cret@127.0.0.1:1/") });
        var e = await Assert.ThrowsAsync<TrellisException>(async () => await transport.StartAsync(_ => { }, default));
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.Contains("127.0.0.1:1", e.Message);
        Assert.DoesNotContain("s3cret", e.Message);
    }

    // ------------------------------------------------------------------ topology on the broker

    [Fact]
    public async Task An_exchange_declared_otherwise_by_someone_else_stops_the_start_with_a_message_saying_what_to_change()
    {
        var prefix = Broker.NewPrefix("clash");
        var raw = await RawChannelAsync();
        await raw.ExchangeDeclareAsync(prefix + ".requests", ExchangeType.Fanout, durable: false, autoDelete: false);
        try
        {
            await using var transport = Broker.Transport(prefix);
            var e = await Assert.ThrowsAsync<TrellisException>(async () => await transport.StartAsync(_ => { }, default));
            Assert.Equal(ErrorKind.FailedPrecondition, e.Kind);
            Assert.Contains($"'{prefix}.requests'", e.Message);
            Assert.Contains("Trellis:Transport:RabbitMq:Prefix", e.Message);
        }
        finally
        {
            await raw.ExchangeDeleteAsync(prefix + ".requests");
        }
    }


    [Fact]
    public async Task A_group_queue_with_a_long_pattern_gets_a_hashed_name_its_members_share()
    {
        var pattern = Topic(string.Join('.', Enumerable.Repeat("long", 48)) + ".*");
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        var received = new CountdownSignal();
        await a.SlotAsync(pattern, (_, _) => { received.Increment(); return default; }, group: "readers");
        await b.SlotAsync(pattern, (_, _) => { received.Increment(); return default; }, group: "readers");

        var name = Topology.QueueName(Prefix, new QueueSpec(ExchangeKind.Signals, pattern, "readers"));
        Assert.True(Encoding.UTF8.GetByteCount(Topology.QueueName("trellis", new QueueSpec(ExchangeKind.Signals, pattern, "readers"))) <= 255);
        var raw = await RawChannelAsync();
        var declared = await raw.QueueDeclarePassiveAsync(name);
        Assert.Equal(2u, declared.ConsumerCount);

        var publisher = await ProcessAsync();
        var topic = pattern.Replace("*", "x", StringComparison.Ordinal);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(PublishStatus.Routed, await publisher.SignalAsync(topic, JsonPayload.From(i)));
        }

        await received.WaitForAsync(10, "the group 'readers' to receive 10 signals between its two members");
    }

    [Fact]
    public async Task Members_declaring_a_group_queue_with_different_lengths_join_the_first_one()
    {
        var topic = Topic("lengths");
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        var served = new CountdownSignal();
        await a.ReplyToAsync(topic, "g", (r, _) => { served.Increment(); return ValueTask.FromResult(new Message(r.Data)); }, new HandlerOptions { MaxQueueLength = 5 });
        await b.ReplyToAsync(topic, "g", (r, _) => { served.Increment(); return ValueTask.FromResult(new Message(r.Data)); }, new HandlerOptions { MaxQueueLength = 7 });

        var client = await ProcessAsync();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(Codes.Ok, (await client.RequestAsync(topic, JsonPayload.From(i)).Within($"reply {i}")).Code);
        }

        var raw = await RawChannelAsync();
        Assert.Equal(2u, (await raw.QueueDeclarePassiveAsync(Topology.QueueName(Prefix, new QueueSpec(ExchangeKind.Requests, topic, "g")))).ConsumerCount);
    }

    [Fact]
    public async Task A_durable_queue_keeps_messages_while_its_group_is_away()
    {
        var topic = Topic("ledger");
        var first = await ProcessAsync();
        var subscription = await first.SubscribeDurableAsync(topic, "bookkeeping", (_, _) => default);
        await subscription.DisposeAsync();

        var publisher = await ProcessAsync();
        Assert.Equal(PublishStatus.Routed, await publisher.PublishDurableAsync(topic, JsonPayload.From("kept"), "entry-1"));

        var later = await ProcessAsync();
        var got = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await later.SubscribeDurableAsync(topic, "bookkeeping", (m, _) => { got.TrySetResult(m); return default; });
        var message = await got.Task.Within("the message published while nobody consumed");
        Assert.Equal("entry-1", message.MessageId);
        Assert.Equal("\"kept\"", message.Data.ToString());

        var raw = await RawChannelAsync();
        await raw.QueueDeleteAsync(Topology.QueueName(Prefix, new QueueSpec(ExchangeKind.Durable, topic, "bookkeeping")));
    }

    // ------------------------------------------------------------------ interop with other AMQP clients

    [Fact]
    public async Task The_envelope_travels_in_standard_AMQP_properties()
    {
        var topic = Topic("props");
        // The transport declares its exchanges when it starts; binding to one before that fails
        // with NOT_FOUND (the test passed in a full run only because another test had started one).
        var transport = Broker.Transport(Prefix);
        _owned.Add(transport);
        await transport.StartAsync(_ => { }, default);

        var raw = await RawChannelAsync();
        var queue = (await raw.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await raw.QueueBindAsync(queue, Prefix + ".signals", topic);
        var seen = new TaskCompletionSource<BasicDeliverEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(raw);
        consumer.ReceivedAsync += (_, e) =>
        {
            seen.TrySetResult(new BasicDeliverEventArgs(e.ConsumerTag, e.DeliveryTag, e.Redelivered, e.Exchange, e.RoutingKey, e.BasicProperties, e.Body.ToArray()));
            return Task.CompletedTask;
        };
        await raw.BasicConsumeAsync(queue, autoAck: true, consumer);

        var status = await transport.PublishAsync(ExchangeKind.Signals, new TransportMessage
        {
            Topic = topic,
            Data = JsonPayload.Parse("{\"a\":1}"),
            Code = 418,
            Sender = "sender-1",
            MessageId = "message-1",
            TimeoutMs = 1500,
            TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        }, default);
        Assert.Equal(PublishStatus.Routed, status);

        var delivered = await seen.Task.Within("the raw AMQP consumer to receive the signal");
        var properties = delivered.BasicProperties;
        Assert.Equal(topic, delivered.RoutingKey);
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(delivered.Body.Span));
        Assert.Equal(("sender-1", "message-1", "trellis", "1500"), (properties.CorrelationId, properties.MessageId, properties.AppId, properties.Expiration));
        Assert.Equal(418, properties.Headers![Wire.CodeHeader]);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Encoding.UTF8.GetString((byte[])properties.Headers["traceparent"]!));
    }

    [Fact]
    public async Task A_request_from_another_AMQP_client_is_answered_and_one_that_is_not_JSON_gets_400()
    {
        var topic = Topic("interop");
        var server = await ProcessAsync();
        await server.ReplyToAsync(topic, "_default", (r, _) => ValueTask.FromResult(new Message(r.Data, 201)));

        var raw = await RawChannelAsync();
        var replies = new Dictionary<string, TaskCompletionSource<(int Code, string Body)>>
        {
            ["good"] = new(TaskCreationOptions.RunContinuationsAsynchronously),
            ["bad"] = new(TaskCreationOptions.RunContinuationsAsynchronously),
        };
        var consumer = new AsyncEventingBasicConsumer(raw);
        consumer.ReceivedAsync += (_, e) =>
        {
            var code = e.BasicProperties.Headers?.TryGetValue(Wire.CodeHeader, out var c) == true ? (int)c! : 200;
            replies[e.BasicProperties.CorrelationId!].TrySetResult((code, Encoding.UTF8.GetString(e.Body.Span)));
            return Task.CompletedTask;
        };
        await raw.BasicConsumeAsync(Wire.DirectReplyTo, autoAck: true, consumer);
        await raw.BasicPublishAsync(Prefix + ".requests", topic, mandatory: true, new BasicProperties { CorrelationId = "good", ReplyTo = Wire.DirectReplyTo }, "[1,2]"u8.ToArray());
        await raw.BasicPublishAsync(Prefix + ".requests", topic, mandatory: true, new BasicProperties { CorrelationId = "bad", ReplyTo = Wire.DirectReplyTo }, "not json"u8.ToArray());

        Assert.Equal((201, "[1,2]"), await replies["good"].Task.Within("the reply to the JSON request"));
        var bad = await replies["bad"].Task.Within("the 400 reply to the request that is not JSON");
        Assert.Equal(Codes.BadRequest, bad.Code);
        Assert.Contains("not valid JSON", bad.Body);
    }

    [Fact]
    public async Task A_request_the_broker_refuses_for_a_full_queue_is_answered_503_and_reported_by_the_requester()
    {
        var topic = Topic("full");
        var server = await ProcessAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.ReplyToAsync(topic, "_default", async (r, _) =>
        {
            await gate.Task;
            return new Message(r.Data);
        }, new HandlerOptions { Concurrency = 1, MaxQueueLength = 1, Timeout = TimeSpan.FromSeconds(60) });

        var client = await ProcessAsync();
        var requests = Enumerable.Range(0, 8).Select(i => client.RequestAsync(topic, JsonPayload.From(i), TimeSpan.FromSeconds(30))).ToArray();
        var refused = await (await Task.WhenAny(requests).Within("the first answer while the handler is blocked"));
        Assert.Equal(Codes.QueueFull, refused.Code);
        Assert.Contains("is full", refused.Data.ToString());
        Assert.Contains(client.Errors.Snapshot(), e => e.Code == Codes.QueueFull && e.Topic == topic);

        gate.SetResult();
        await Task.WhenAll(requests).Within("every request to finish once the handler is released");
    }

    [Fact]
    public async Task A_durable_request_waits_persistent_without_a_TTL_and_a_reply_from_another_client_reaches_the_requester()
    {
        var topic = Topic("shard.1");
        var client = await ProcessAsync();
        await client.DeclareDurableQueueAsync(topic, "silo", maxLength: 100);
        var queue = Topology.QueueName(Prefix, new QueueSpec(ExchangeKind.Durable, topic, "silo"));
        var raw = await RawChannelAsync();

        // Declared durable and not auto-delete: declaring it so again is accepted, as it would not be otherwise.
        var arguments = new Dictionary<string, object?> { ["x-max-length"] = 100, ["x-overflow"] = "reject-publish" };
        Assert.Equal(0u, (await raw.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments)).ConsumerCount);

        var request = client.RequestDurableAsync(topic, JsonPayload.From("poke"), "poke-1", TimeSpan.FromSeconds(20));
        var seen = new TaskCompletionSource<IReadOnlyBasicProperties>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(raw);
        consumer.ReceivedAsync += (_, e) =>
        {
            seen.TrySetResult(e.BasicProperties);
            return Task.CompletedTask;
        };
        await raw.BasicConsumeAsync(queue, autoAck: true, consumer);

        var properties = await seen.Task.Within("the durable request in its queue");
        Assert.Null(properties.Expiration);
        Assert.Equal(DeliveryModes.Persistent, properties.DeliveryMode);
        Assert.Equal(20_000, properties.Headers![Wire.TimeoutHeader]);
        Assert.Equal("poke-1", properties.MessageId);
        Assert.StartsWith(Wire.DirectReplyTo + ".", properties.ReplyTo, StringComparison.Ordinal);

        var reply = new BasicProperties { CorrelationId = properties.CorrelationId, AppId = Wire.AppId };
        await raw.BasicPublishAsync("", properties.ReplyTo!, mandatory: false, reply, "\"done\""u8.ToArray());
        var answer = await request.Within("the reply published by another AMQP client");
        Assert.Equal((Codes.Ok, "\"done\""), (answer.Code, answer.Data.ToString()));
    }

    // ------------------------------------------------------------------ options

    [Fact]
    public async Task Without_request_confirms_a_request_to_nobody_still_gets_404_at_once_and_replies_flow()
    {
        var server = await ProcessAsync();
        await server.ReplyToAsync(Topic("echo"), "_default", (r, _) => ValueTask.FromResult(new Message(r.Data)));
        var client = await ProcessAsync(o => o.ConfirmRequests = false);

        var missing = await client.RequestAsync(Topic("nobody"), JsonPayload.Null, TimeSpan.FromSeconds(20)).Within("the 404 from basic.return");
        Assert.Equal(Codes.NotFound, missing.Code);
        var echo = await client.RequestAsync(Topic("echo"), JsonPayload.From(7)).Within("the echo reply");
        Assert.Equal((Codes.Ok, "7"), (echo.Code, echo.Data.ToString()));
    }

    [Fact]
    public async Task Without_signal_confirms_signals_report_routed_and_still_arrive()
    {
        var slot = await ProcessAsync();
        var got = new TaskCompletionSource<Signal>(TaskCreationOptions.RunContinuationsAsynchronously);
        await slot.SlotAsync(Topic("quick.*"), (s, _) => { got.TrySetResult(s); return default; });
        var sender = await ProcessAsync(o => o.ConfirmSignals = false);

        Assert.Equal(PublishStatus.Routed, await sender.SignalAsync(Topic("nobody.listens"), JsonPayload.Null));
        Assert.Equal(PublishStatus.Routed, await sender.SignalAsync(Topic("quick.one"), JsonPayload.From("hi")));
        Assert.Equal(Topic("quick.one"), (await got.Task.Within("the unconfirmed signal")).Topic);
    }

    [Fact]
    public async Task Several_request_channels_share_the_load_and_every_reply_finds_its_requester()
    {
        var server = await ProcessAsync();
        await server.ReplyToAsync(Topic("sum"), "_default", (r, _) => ValueTask.FromResult(new Message(JsonPayload.From(r.Data.As<int>() * 2))));
        var client = await ProcessAsync(o => o.RequestChannels = 3);

        var replies = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => client.RequestAsync(Topic("sum"), JsonPayload.From(i)))).Within("300 replies");
        for (var i = 0; i < replies.Length; i++)
        {
            Assert.Equal((Codes.Ok, i * 2), (replies[i].Code, replies[i].Data.As<int>()));
        }
    }

    // ------------------------------------------------------------------ connection loss

    [Fact]
    public async Task Losing_the_connection_makes_the_transport_unhealthy_and_recovery_restores_its_consumers()
    {
        var target = Broker.Uri;
        await using var proxy = new TcpProxy(target);
        var logs = new LogSink();
        var server = await ProcessAsync(o => o.RecoveryInterval = TimeSpan.FromMilliseconds(100), proxy.Through(target), logs);
        var transport = (RabbitMqTransport)server.Transport;
        await server.ReplyToAsync(Topic("survivor"), "_default", (r, _) => ValueTask.FromResult(new Message(r.Data)));
        // The requester goes through the relay too: its direct reply-to consumer has to come back as well.
        var client = await ProcessAsync(o => o.RecoveryInterval = TimeSpan.FromMilliseconds(100), proxy.Through(target), logs);
        Assert.Equal(Codes.Ok, (await client.RequestAsync(Topic("survivor"), JsonPayload.From(1)).Within("a reply before the cut")).Code);
        Assert.True(await transport.IsHealthyAsync(default));

        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recovered = new CountdownSignal();
        transport.Connection!.ConnectionShutdownAsync += (_, _) => { lost.TrySetResult(); return Task.CompletedTask; };
        foreach (var bus in new[] { server, client })
        {
            ((RabbitMqTransport)bus.Transport).Connection!.RecoverySucceededAsync += (_, _) => { recovered.Increment(); return Task.CompletedTask; };
        }

        proxy.Cut(refuseNew: true);
        await lost.Task.Within("the client to notice the lost connection");
        Assert.False(await transport.IsHealthyAsync(default), "healthy while the broker is unreachable");
        var publishing = await Assert.ThrowsAsync<TrellisException>(() => server.SignalAsync(Topic("during"), JsonPayload.Null).AsTask());
        Assert.Equal(ErrorKind.Unavailable, publishing.Kind);

        proxy.Resume();
        await recovered.WaitForAsync(2, "both connections to recover once the broker is reachable again");
        Assert.True(await transport.IsHealthyAsync(default), "unhealthy after recovery");
        var after = await client.RequestAsync(Topic("survivor"), JsonPayload.From(2), TimeSpan.FromSeconds(10)).Within("a reply from the recovered consumer");
        Assert.Equal((Codes.Ok, "2"), (after.Code, after.Data.ToString()));
        Assert.Contains(logs.Entries, e => e.Message.Contains("connection lost", StringComparison.Ordinal));
        Assert.Empty(logs.Errors);
    }
}
