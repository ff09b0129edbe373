using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
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
