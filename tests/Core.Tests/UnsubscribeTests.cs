using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.Core.Transport.InMemory;
using Trellis.Core.Topics;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Core.Tests;

/// <summary>Requests caught by a service's unsubscribe on the in-process transport: each is answered at once,
/// none is left to its requester's timeout. (On RabbitMQ a service queue is auto-delete, and the broker drops what is
/// still in it when its last consumer cancels: the requesters of those time out. See src/Transport.RabbitMq/README.md.)</summary>
public sealed class UnsubscribeTests : IAsyncLifetime
{
    private readonly InMemoryBroker _broker = new();
    private MessageBus _server = null!;
    private MessageBus _client = null!;

    public async ValueTask InitializeAsync()
    {
        _server = await MessageBus.StartAsync(new InMemoryTransport(_broker));
        _client = await MessageBus.StartAsync(new InMemoryTransport(_broker));
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Requests_waiting_when_the_last_handler_goes_get_503_or_404_not_a_timeout()
    {
        var topic = $"u{Guid.NewGuid():N}"[..12] + ".slow";
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscription = await _server.ReplyToAsync(topic, TopicRules.DefaultGroup, async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return Message.Ok(JsonPayload.Null);
        }, new HandlerOptions { Concurrency = 1 });

        // One request runs, one waits for the only handler slot, the rest wait in the queue.
        var running = _client.RequestAsync(topic, JsonPayload.Null, TimeSpan.FromSeconds(60));
        await started.Task.Within("the first request to run");
        var waiting = Enumerable.Range(0, 5).Select(_ => _client.RequestAsync(topic, JsonPayload.Null, TimeSpan.FromSeconds(60))).ToArray();
        await Task.Delay(100);

        await subscription.DisposeAsync();

        var replies = await Task.WhenAll(waiting).Within("the waiting requests' answers", TimeSpan.FromSeconds(20));
        // 404 from the deleted queue, 503 for one that waited for a handler slot, or the stopped handler's 500 for one
        // that got the slot the cancelled first request freed: an answer in every case, never the requester's 499.
        Assert.All(replies, r => Assert.True(r.Code is Codes.NotFound or Codes.Unavailable or Codes.HandlerError, $"a waiting request got {r.Code}: {r.Data}"));
        Assert.Contains(replies, r => r.Code == Codes.NotFound);
        var first = await running.Within("the running request's answer", TimeSpan.FromSeconds(20));
        Assert.True(Codes.IsError(first.Code), $"the cancelled request got {first.Code}");

        var after = await _client.RequestAsync(topic, JsonPayload.Null, TimeSpan.FromSeconds(20)).Within("a request after the unsubscribe");
        Assert.Equal(Codes.NotFound, after.Code);
    }
}
