using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;
using Trellis.Core.Transport.InMemory;
using Xunit;

namespace Trellis.Core.Tests;

/// <summary>Bad input to the bus is refused with an error naming the problem, and loses nothing.</summary>
public sealed class BusInputTests : IAsyncLifetime
{
    private MessageBus _bus = null!;

    public async ValueTask InitializeAsync() =>
        _bus = await MessageBus.StartAsync(new InMemoryTransport(new InMemoryBroker()), new MessagingOptions { MaxPayloadBytes = 64 });

    public ValueTask DisposeAsync() => _bus.DisposeAsync();

    [Fact]
    public async Task Requests_to_bad_topics_or_with_oversized_payloads_are_refused()
    {
        Assert.Contains("required", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestAsync("", JsonPayload.Null))).Message);
        Assert.Contains("wildcard", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestAsync("a.*", JsonPayload.Null))).Message);
        var big = await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestAsync("a", JsonPayload.From(new string('x', 100))));
        Assert.Equal(ErrorKind.ResourceExhausted, big.Kind);
        Assert.Contains("limit is 64", big.Message);
        Assert.Contains("must be positive", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestAsync("a", JsonPayload.Null, TimeSpan.Zero))).Message);
        Assert.Contains("longer than the limit", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestAsync("a", JsonPayload.Null, TimeSpan.FromDays(2)))).Message);
    }

    [Fact]
    public async Task Subscriptions_with_bad_topics_or_groups_are_refused()
    {
        static ValueTask<Message> Echo(Request r, CancellationToken _) => ValueTask.FromResult(new Message(r.Data));
        Assert.Contains("wildcard", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.ReplyToAsync("svc.*", "g", Echo))).Message);
        Assert.Contains("group is required", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.ReplyToAsync("svc", "", Echo))).Message);
        Assert.Contains("whitespace", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.SlotAsync("a b", (_, _) => default))).Message);
        Assert.Contains("concurrency", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.SlotAsync("a", (_, _) => default, options: new HandlerOptions { Concurrency = 0 }))).Message);
        Assert.Contains("group", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.SubscribeDurableAsync("a", "", (_, _) => default))).Message);

        // Nothing half-registered: the topic still answers 404 and a valid subscription still works.
        Assert.Equal(Codes.NotFound, (await _bus.RequestAsync("svc", JsonPayload.Null)).Code);
        await _bus.ReplyToAsync("svc", "g", Echo);
        Assert.Equal(Codes.Ok, (await _bus.RequestAsync("svc", JsonPayload.From(1))).Code);
    }

    [Fact]
    public async Task Durable_requests_with_bad_topics_ids_payloads_or_timeouts_are_refused()
    {
        Assert.Contains("required", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("", JsonPayload.Null, "id"))).Message);
        Assert.Contains("wildcard", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a.*", JsonPayload.Null, "id"))).Message);
        Assert.Contains("messageId", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a", JsonPayload.Null, null!))).Message);
        Assert.Contains("messageId", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a", JsonPayload.Null, ""))).Message);
        Assert.Contains("messageId", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a", JsonPayload.Null, new string('i', 201)))).Message);
        Assert.Equal(ErrorKind.ResourceExhausted, (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a", JsonPayload.From(new string('x', 100)), "id"))).Kind);
        Assert.Contains("must be positive", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a", JsonPayload.Null, "id", TimeSpan.Zero))).Message);
        Assert.Contains("longer than the limit", (await Assert.ThrowsAsync<TrellisException>(() => _bus.RequestDurableAsync("a", JsonPayload.Null, "id", TimeSpan.FromDays(2)))).Message);
        Assert.Equal(0, _bus.PendingRequests);

        // Bad input fails the returned task rather than the call, as for every other request.
        Assert.True(_bus.RequestDurableAsync("", JsonPayload.Null, "id").IsFaulted);
        Assert.True(_bus.RequestAsync("", JsonPayload.Null).IsFaulted);

        // Valid input still goes through: nothing is bound, so 404.
        Assert.Equal(Codes.NotFound, (await _bus.RequestDurableAsync("a", JsonPayload.Null, "id")).Code);
    }

    [Fact]
    public async Task A_cancelled_durable_request_throws_and_leaves_nothing_pending()
    {
        await _bus.DeclareDurableQueueAsync("held", "nobody-consumes");
        using var cancel = new CancellationTokenSource();
        var request = _bus.RequestDurableAsync("held", JsonPayload.Null, "id-1", TimeSpan.FromSeconds(30), cancel.Token);
        Assert.False(request.IsCompleted, "a request into a queue nobody consumes must wait");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        Assert.Equal(0, _bus.PendingRequests);
    }

    [Fact]
    public async Task Bad_durable_declarations_and_single_consumer_outside_durable_subscriptions_are_refused()
    {
        Assert.Contains("group", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.DeclareDurableQueueAsync("a", ""))).Message);
        Assert.Contains("whitespace", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.DeclareDurableQueueAsync("a b", "g"))).Message);
        Assert.Contains("queue length", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.DeclareDurableQueueAsync("a", "g", maxLength: 0))).Message);

        var single = new HandlerOptions { SingleConsumer = true };
        Assert.Contains("SingleConsumer", (await Assert.ThrowsAsync<TrellisException>(async () =>
            await _bus.ReplyToAsync("svc", "g", (r, _) => ValueTask.FromResult(new Message(r.Data)), single))).Message);
        Assert.Contains("SingleConsumer", (await Assert.ThrowsAsync<TrellisException>(async () => await _bus.SlotAsync("a", (_, _) => default, options: single))).Message);

        // The transport refuses what the bus cannot ask for.
        var transport = _bus.Transport;
        Assert.Throws<ArgumentException>(() => { _ = transport.ConsumeAsync(new QueueSpec(ExchangeKind.Signals, "a", "g", SingleConsumer: true), (_, _) => default, default); });
        Assert.Throws<ArgumentException>(() => { _ = transport.ConsumeAsync(new QueueSpec(ExchangeKind.Durable, "a", null, SingleConsumer: true), (_, _) => default, default); });
        Assert.Throws<ArgumentException>(() => { _ = transport.DeclareAsync(new QueueSpec(ExchangeKind.Requests, "a", "g"), default); });
        Assert.Throws<ArgumentException>(() => { _ = transport.DeclareAsync(new QueueSpec(ExchangeKind.Durable, "a", null), default); });
    }

    [Fact]
    public async Task Replying_to_a_durable_message_without_a_requester_does_nothing()
    {
        var message = new DurableMessage("t", JsonPayload.Null, "id", Redelivered: false);
        await _bus.ReplyAsync(message, new Message(JsonPayload.From(1), Codes.HandlerError));
        Assert.Equal(0, _bus.Errors.Total);
        Assert.Equal((string?)null, message.ReplyTo);
        Assert.Equal(TimeSpan.Zero, message.Timeout);
    }

    [Fact]
    public void Invalid_options_are_refused_naming_the_key()
    {
        var e = Assert.Throws<TrellisException>(() => new MessagingOptions { QueueMaxLength = 0 }.Validate());
        Assert.Contains("Trellis:Messaging:QueueMaxLength", e.Message);
        Assert.Contains("Trellis:Messaging:DefaultRequestTimeout", Assert.Throws<TrellisException>(() => new MessagingOptions { DefaultRequestTimeout = TimeSpan.Zero }.Validate()).Message);
    }

    [Fact]
    public void Invalid_json_payloads_are_refused()
    {
        var e = Assert.Throws<TrellisException>(() => JsonPayload.Parse("{\"a\":"));
        Assert.Contains("not valid JSON", e.Message);
        Assert.True(JsonPayload.Parse("").IsNull);
    }

    [Fact]
    public void The_error_queue_is_bounded_and_newest_first()
    {
        var queue = new ErrorQueue(3);
        for (var i = 0; i < 5; i++)
        {
            queue.Add(new ErrorReport(500 + i, "t", "s", JsonPayload.Null, JsonPayload.Null, DateTimeOffset.UnixEpoch, "test"));
        }

        Assert.Equal([504, 503, 502], queue.Snapshot().Select(e => e.Code));
        Assert.Equal(5, queue.Total);
    }
}
