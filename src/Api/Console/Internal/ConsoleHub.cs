using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Trellis.Core.Bus;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Console.Internal;

/// <summary>The console's viewers and the work done for them: with the first viewer it starts the meter listener, the
/// error-channel slot and a loop that sends a snapshot every <see cref="ConsoleOptions.Interval"/>; with the last one gone
/// it stops them all, so nobody watching costs nothing.</summary>
internal sealed partial class ConsoleHub : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<Viewer> _viewers = [];
    private readonly ConsoleOptions _options;
    private readonly ClusterReader _reader;
    private readonly BusHost _busHost;
    private readonly MessagingOptions _messaging;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConsoleMetrics _metrics = new();
    private readonly ErrorTail _errors;
    private CancellationTokenSource? _running;
    private Task? _loop;

    public ConsoleHub(ConsoleOptions options, ClusterReader reader, BusHost busHost, MessagingOptions messaging, TimeProvider time, ILogger<ConsoleHub> logger)
    {
        _options = options;
        _reader = reader;
        _busHost = busHost;
        _messaging = messaging;
        _time = time;
        _logger = logger;
        _errors = new ErrorTail(options.ErrorTail);
    }

    /// <summary>Viewers connected now.</summary>
    public int Viewers
    {
        get
        {
            lock (_viewers)
            {
                return _viewers.Count;
            }
        }
    }

    /// <summary>Whether the snapshot loop runs (someone watches).</summary>
    public bool Running => _loop is not null;

    /// <summary>Whether this hub's meter listener exists (only while someone watches).</summary>
    public bool Listening => _metrics.Listening;

    /// <summary>Whether this hub's slot on the error channel exists (only while someone watches).</summary>
    public bool SubscribedToErrors => _errors.Subscribed;

    internal ClusterReader Reader => _reader;

    /// <summary>Adds a viewer, starting the work when it is the first; null when <see cref="ConsoleOptions.MaxViewers"/>
    /// are connected already.</summary>
    public async Task<Viewer?> JoinAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_viewers)
            {
                if (_viewers.Count >= _options.MaxViewers)
                {
                    return null;
                }
            }

            if (_loop is null)
            {
                await StartAsync(cancellationToken).ConfigureAwait(false);
            }

            var viewer = new Viewer();
            lock (_viewers)
            {
                _viewers.Add(viewer);
            }

            return viewer;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Removes a viewer, stopping the work when it was the last.</summary>
    public async Task LeaveAsync(Viewer viewer)
    {
        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            bool last;
            lock (_viewers)
            {
                _viewers.Remove(viewer);
                last = _viewers.Count == 0;
            }

            viewer.Channel.Writer.TryComplete();
            if (last)
            {
                await StopAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>One snapshot now, for <c>GET /console/api/snapshot</c>: from the running loop's figures when someone
    /// watches, else with empty rates (nothing is started for a single read).</summary>
    public async Task<byte[]> SnapshotAsync(CancellationToken cancellationToken)
    {
        if (_loop is not null)
        {
            return await BuildAsync(_last, cancellationToken).ConfigureAwait(false);
        }

        return await BuildAsync(new MetricsSnapshot([], []), cancellationToken).ConfigureAwait(false);
    }

    private MetricsSnapshot _last = new([], []);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        _metrics.Start();
        try
        {
            var bus = await _busHost.Started.WaitAsync(cancellationToken).ConfigureAwait(false);
            await _errors.StartAsync(bus, _messaging.ErrorTopic, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _metrics.Stop();
            throw;
        }

        _reader.Reset();
        _running = new CancellationTokenSource();
        _loop = RunAsync(_running.Token);
        LogStarted(_logger);
    }

    private async Task StopAsync()
    {
        if (_loop is not { } loop)
        {
            return;
        }

        await _running!.CancelAsync().ConfigureAwait(false);
        try
        {
            await loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _running.Dispose();
        _running = null;
        _loop = null;
        _metrics.Stop();
        await _errors.StopAsync().ConfigureAwait(false);
        _last = new MetricsSnapshot([], []);
        LogStopped(_logger);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        // Off the caller's context: the first viewer's request must not run the loop.
        await Task.Yield();
        using var timer = new PeriodicTimer(_options.Interval, _time);
        var previous = _time.GetTimestamp();
        do
        {
            var now = _time.GetTimestamp();
            _last = _metrics.Collect(_time.GetElapsedTime(previous, now));
            previous = now;
            try
            {
                var snapshot = await BuildAsync(_last, cancellationToken).ConfigureAwait(false);
                Viewer[] viewers;
                lock (_viewers)
                {
                    viewers = [.. _viewers];
                }

                foreach (var viewer in viewers)
                {
                    // A viewer too slow to take the last two snapshots misses this one: the next one replaces it anyway.
                    viewer.Channel.Writer.TryWrite(snapshot);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogSnapshotFailed(_logger, e);
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    private async Task<byte[]> BuildAsync(MetricsSnapshot metrics, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        await using (var json = new Utf8JsonWriter(buffer))
        {
            await _reader.WriteSnapshotAsync(json, metrics, _errors, cancellationToken).ConfigureAwait(false);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>One connected viewer: the snapshots waiting to be sent to it.</summary>
    internal sealed class Viewer
    {
        public Channel<byte[]> Channel { get; } = System.Threading.Channels.Channel.CreateBounded<byte[]>(
            new BoundedChannelOptions(2) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The console has a viewer: live figures start")]
    private static partial void LogStarted(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "The console's last viewer left: live figures stop")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The console could not build a snapshot")]
    private static partial void LogSnapshotFailed(ILogger logger, Exception exception);
}
