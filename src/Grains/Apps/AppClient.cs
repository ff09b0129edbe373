using System.Text.Json;
using System.Threading.Channels;
using Orleans.Runtime;
using Orleans.Streams;
using Trellis.Core.Messaging;
using Trellis.Grains.Cluster;

namespace Trellis.Grains.Apps;

/// <summary>Talks to apps from outside them (gateways, tools, tests): create, poke, watch, leave, peek, kill, wipe.</summary>
/// <remarks>Replies are the app's: 200 with <c>{ack: true}</c> for an ack, 4xx with <c>{nack: "..."}</c> for a nack,
/// 404 when the app does not exist; 499 when the caller's timeout passed first (the call may still run later: retry it
/// with the same id) and 503 when the cluster could not take the call. Pass the same <c>messageId</c> when retrying a
/// poke: the app absorbs the duplicate.</remarks>
public sealed class AppClient(IClusterClient cluster)
{
    /// <summary>How long a call may take when the caller names no timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Events a watch buffers before it ends with a kick (tests lower it).</summary>
    internal int WatchCapacity { get; init; } = AppWatch.DefaultCapacity;

    public Task<Message> CreateAsync(string app, string agent, JsonElement? init = null, string? messageId = null, CancellationToken cancellationToken = default) =>
        CallAsync(app, "create", JsonPayload.From(new { agent = AppAgents.ValidateName(agent), init }), messageId, cancellationToken: cancellationToken);

    public Task<Message> PokeAsync(string app, string mark, JsonElement data, string? messageId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        CallAsync(app, "poke", JsonPayload.From(new { mark = ValidateMark(mark), data }), messageId, timeout, cancellationToken);

    public Task<Message> PeekAsync(string app, string path, CancellationToken cancellationToken = default) =>
        CallAsync(app, "peek", JsonPayload.From(new { path = AppPath.ValidateSubscriptionPath(path) }), cancellationToken: cancellationToken);

    public Task<Message> LeaveAsync(string app, string path, string subscriber, CancellationToken cancellationToken = default) =>
        CallAsync(app, "leave", JsonPayload.From(new { path = AppPath.ValidateSubscriptionPath(path), subscriber }), cancellationToken: cancellationToken);

    public Task<Message> KillAsync(string app, CancellationToken cancellationToken = default) =>
        CallAsync(app, "kill", JsonPayload.Null, cancellationToken: cancellationToken);

    public Task<Message> WipeAsync(string app, CancellationToken cancellationToken = default) =>
        CallAsync(app, "wipe", JsonPayload.Null, cancellationToken: cancellationToken);

    public Task<Message> InfoAsync(string app, CancellationToken cancellationToken = default) =>
        CallAsync(app, "info", JsonPayload.Null, cancellationToken: cancellationToken);

    /// <summary>Subscribes to a path of an app. On success the watch yields a watch-ack, then the initial facts, then
    /// facts as they happen, and ends with a kick; on a nack it throws <see cref="AppNackException"/>.</summary>
    public async Task<AppWatch> WatchAsync(string app, string path, CancellationToken cancellationToken = default)
    {
        AppPath.Validate(app);
        AppPath.ValidateSubscriptionPath(path);
        var subscriber = Guid.NewGuid().ToString("N");
        var watch = new AppWatch(this, app, path, subscriber, WatchCapacity);
        // Subscribe before asking, so no fact published right after the watch is missed; events that arrive before the
        // reply wait in the watch's buffer until the ack and the initial facts are in front of them.
        var stream = cluster.GetStreamProvider(AppStreams.Provider).GetStream<AppStreamEvent>(AppStreams.Id(app));
        try
        {
            watch.Handle = await stream.SubscribeAsync((e, _) =>
            {
                watch.OnEvent(e);
                return Task.CompletedTask;
            }).WaitAsync(DefaultTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, cancellationToken))
        {
            throw new Trellis.Core.Errors.TrellisException(Trellis.Core.Errors.ErrorKind.Unavailable, $"cannot watch app {app} now: {e.Message}", e);
        }

        Message reply;
        try
        {
            reply = await CallAsync(app, "watch", JsonPayload.From(new { path, subscriber }), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await watch.UnsubscribeAsync().ConfigureAwait(false);
            throw;
        }

        if (!reply.IsOk)
        {
            await watch.UnsubscribeAsync().ConfigureAwait(false);
            throw new AppNackException(app, reply);
        }

        watch.Acknowledge(reply.Data.ToJsonElement());
        return watch;
    }

    private async Task<Message> CallAsync(
        string app, string method, JsonPayload data, string? messageId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var grain = cluster.GetGrain<IAppGrain>(AppPath.Validate(app));
        var call = new AppCall(method, data.IsNull ? null : data.ToString(), messageId ?? Guid.NewGuid().ToString("N"));
        try
        {
            var reply = await grain.Call(call).WaitAsync(timeout ?? DefaultTimeout, cancellationToken).ConfigureAwait(false);
            return reply.ToMessage();
        }
        catch (TimeoutException)
        {
            return Message.Error(Codes.RequestTimeout, $"app {app} did not answer '{method}' in time; it may still run it: retry with the same id");
        }
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e, cancellationToken))
        {
            // Rejected by Orleans, or the grain directory cancelled the lookup while the app's range changed hands.
            return Message.Error(Codes.Unavailable, $"app {app} is unavailable now: {e.Message}");
        }
    }

    private static string ValidateMark(string mark) =>
        mark is { Length: > 0 and <= 100 } ? mark : throw Trellis.Core.Errors.TrellisException.Invalid("mark must be 1 to 100 characters long");
}

/// <summary>One event of a watch.</summary>
/// <param name="Kind">watch-ack, fact or kick.</param>
public sealed record AppWatchEvent(string Kind, string App, string Path, JsonElement? Data);

/// <summary>A live subscription to an app's path; dispose it to leave.</summary>
public sealed class AppWatch : IAsyncDisposable
{
    /// <summary>Events a watch buffers for a reader that does not keep up before it ends the watch with a kick.</summary>
    public const int DefaultCapacity = 1024;

    private readonly Channel<AppWatchEvent> _events;
    private readonly Lock _lock = new();
    private readonly AppClient _client;
    private List<AppStreamEvent>? _early = [];
    private StreamGapDetector? _sequence;
    private int _disposed;

    private readonly int _capacity;
    private bool _overflowed;

    internal AppWatch(AppClient client, string app, string path, string subscriber, int capacity = DefaultCapacity)
    {
        _client = client;
        _capacity = capacity;
        // One slot more than the capacity, for the kick that ends an overflowing watch.
        _events = Channel.CreateBounded<AppWatchEvent>(new BoundedChannelOptions(capacity + 1) { FullMode = BoundedChannelFullMode.Wait });
        App = app;
        Path = path;
        Subscriber = subscriber;
    }

    public string App { get; }

    public string Path { get; }

    /// <summary>This watch's subscriber id at the app.</summary>
    public string Subscriber { get; }

    /// <summary>The agent the app runs, as its watch-ack said.</summary>
    public string? Agent { get; private set; }

    /// <summary>The events, in order; completes after a kick.</summary>
    public ChannelReader<AppWatchEvent> Events => _events.Reader;

    internal StreamSubscriptionHandle<AppStreamEvent>? Handle { get; set; }

    internal void Acknowledge(JsonElement reply)
    {
        Agent = reply.TryGetProperty("agent", out var agent) && agent.ValueKind == JsonValueKind.String ? agent.GetString() : null;
        lock (_lock)
        {
            Write(new AppWatchEvent("watch-ack", App, Path, null));
            if (reply.TryGetProperty("facts", out var facts) && facts.ValueKind == JsonValueKind.Array)
            {
                foreach (var fact in facts.EnumerateArray())
                {
                    Write(new AppWatchEvent("fact", App, Path, fact.Clone()));
                }
            }

            _sequence = new StreamGapDetector(reply.TryGetProperty("seq", out var seq) && seq.TryGetInt64(out var n) ? n : 0);
            foreach (var early in _early!)
            {
                Accept(early);
            }

            _early = null;
        }
    }

    internal void OnEvent(AppStreamEvent e)
    {
        lock (_lock)
        {
            if (_early is not null)
            {
                _early.Add(e);
                return;
            }

            Accept(e);
        }
    }

    internal async ValueTask UnsubscribeAsync()
    {
        if (Handle is { } handle)
        {
            Handle = null;
            try
            {
                await handle.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is OrleansException or TimeoutException or ObjectDisposedException)
            {
                // The cluster is away; its pub-sub forgets a subscriber whose client is gone.
            }
        }
    }

    /// <summary>Takes an event off the app's stream: every number must follow the last one, whatever the event is for.</summary>
    private void Accept(AppStreamEvent e)
    {
        switch (_sequence!.Observe(e.Seq))
        {
            case SequenceVerdict.Repeat:
                return;
            case SequenceVerdict.Gap:
                End($"missed events: expected event {_sequence.Last + 1} of app {App}, got {e.Seq}; watch again for the current facts");
                return;
        }

        var mine = e.Kind == "fact" ? e.Subscriber is null && e.Path == Path : e.Subscriber == Subscriber;
        if (mine)
        {
            Write(new AppWatchEvent(e.Kind, App, e.Path, e.Data is null ? null : JsonDocument.Parse(e.Data).RootElement.Clone()));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _events.Writer.TryComplete();
        await UnsubscribeAsync().ConfigureAwait(false);

        try
        {
            await _client.LeaveAsync(App, Path, Subscriber).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Trellis.Core.Errors.TrellisException or OperationCanceledException or ObjectDisposedException)
        {
            // The app or the bus is gone; there is nothing left to leave.
        }
    }

    /// <summary>Ends the watch with a kick of its own saying why, and leaves the app.</summary>
    private void End(string reason)
    {
        _overflowed = true;
        _events.Writer.TryWrite(new AppWatchEvent("kick", App, Path, JsonSerializer.SerializeToElement(new { reason })));
        _events.Writer.TryComplete();
        // Leave the app off this thread: we are inside the stream's delivery to this watch.
        _ = Task.Run(async () => await DisposeAsync().ConfigureAwait(false));
    }

    private void Write(AppWatchEvent e)
    {
        if (_overflowed)
        {
            return;
        }

        if (e.Kind != "kick" && _events.Reader.Count >= _capacity)
        {
            // Dropping events silently would leave the subscriber with a wrong picture; end the watch instead so it
            // can watch again and get the initial facts afresh.
            End($"subscriber too slow: more than {_capacity} events were waiting");
            return;
        }

        _events.Writer.TryWrite(e);
        if (e.Kind == "kick")
        {
            _events.Writer.TryComplete();
        }
    }
}

/// <summary>An app refused a watch or poke.</summary>
public sealed class AppNackException(string app, Message reply)
    : Exception($"app {app} refused ({reply.Code}): {reply.Data}")
{
    public Message Reply { get; } = reply;
}
