using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Request = Trellis.Core.Messaging.Request;

namespace Trellis.Api.Edge.Link.Internal;

/// <summary>The bus subscriptions of this gateway's links. A process holds one service handler per topic and group, so
/// links that serve the same topic (two devices with one service, or a device's new link replacing its old one) share
/// it: each request goes to one of them in turn, and the subscription goes away with its last link (then requests get
/// the kernel's 404).</summary>
internal sealed class SharedTopics
{
    private readonly SemaphoreSlim _changes = new(1, 1);
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Adds <paramref name="link"/> to the topic's servers, subscribing it when it is the first.</summary>
    public async Task AddAsync(MessageBus bus, string topic, DeviceLink link, Func<DeviceLink, Request, CancellationToken, ValueTask<Message>> serve, HandlerOptions options)
    {
        await _changes.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_entries.TryGetValue(topic, out var existing))
            {
                lock (existing.Links)
                {
                    existing.Links.Add(link);
                }

                return;
            }

            var entry = new Entry();
            entry.Links.Add(link);
            entry.Subscription = await bus.ReplyToAsync(topic, EdgeTopics.Group, (request, ct) =>
                entry.Pick() is { } server
                    ? serve(server, request, ct)
                    : ValueTask.FromResult(Message.Error(Codes.NotFound, $"no device serves {request.Topic} any more")), options).ConfigureAwait(false);
            _entries[topic] = entry;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>Removes <paramref name="link"/> from the topic's servers, unsubscribing the topic when none is left.</summary>
    public async Task RemoveAsync(string topic, DeviceLink link)
    {
        Subscription? unsubscribe = null;
        await _changes.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_entries.TryGetValue(topic, out var entry))
            {
                return;
            }

            lock (entry.Links)
            {
                entry.Links.Remove(link);
                if (entry.Links.Count > 0)
                {
                    return;
                }
            }

            _entries.Remove(topic);
            unsubscribe = entry.Subscription;
            if (unsubscribe is not null)
            {
                // Disposed under the lock, so a new link's subscribe of the same topic waits until the old handler is gone.
                await unsubscribe.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _changes.Release();
        }
    }

    private sealed class Entry
    {
        private int _next;

        public List<DeviceLink> Links { get; } = [];

        public Subscription? Subscription { get; set; }

        public DeviceLink? Pick()
        {
            lock (Links)
            {
                return Links.Count == 0 ? null : Links[(int)((uint)Interlocked.Increment(ref _next) % (uint)Links.Count)];
            }
        }
    }
}
