using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trellis.Edge.Work;

/// <summary>adaptiveservice's auto-scaled worker pool with its H &gt; N &gt; L order: three FIFO queues, the resident
/// workers always there, and one more worker per <c>queuePerWorker</c> queued items (up to the maximum) that leaves after
/// <c>idleTimeout</c> without work. A failing item is logged and never ends its worker.</summary>
public sealed partial class PriorityScheduler : IWorkScheduler, IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Queue<Func<CancellationToken, Task>>[] _queues = [new(), new(), new()];
    private readonly SemaphoreSlim _ready = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private readonly int _resident;
    private readonly int _queuePerWorker;
    private readonly int _max;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _workers;
    private int _queued;
    private long _completed;
    private long _failed;

    public PriorityScheduler(int residentWorkers = 1, int queuePerWorker = 8, int maxWorkers = 64, TimeSpan? idleTimeout = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(residentWorkers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(queuePerWorker, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWorkers, residentWorkers);
        _resident = residentWorkers;
        _queuePerWorker = queuePerWorker;
        _max = maxWorkers;
        _idleTimeout = idleTimeout ?? TimeSpan.FromSeconds(5);
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        lock (_lock)
        {
            for (var i = 0; i < _resident; i++)
            {
                AddWorker();
            }
        }
    }

    /// <summary>Workers alive now (resident + extra).</summary>
    public int Workers => Volatile.Read(ref _workers);

    /// <summary>Items waiting for a worker.</summary>
    public int Queued => Volatile.Read(ref _queued);

    public long Completed => Interlocked.Read(ref _completed);

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Raised with the new count whenever a worker is added or leaves.</summary>
    public event Action<int>? WorkersChanged;

    /// <summary>Raised after an item ran (whether it succeeded or failed).</summary>
    public event Action? ItemDone;

    public void Post(Priority priority, Func<CancellationToken, Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        var grew = false;
        lock (_lock)
        {
            _queues[(int)priority].Enqueue(work);
            _queued++;
            var target = Math.Min(_max, _resident + (_queued / _queuePerWorker));
            if (_workers < target)
            {
                AddWorker();
                grew = true;
            }
        }

        _ready.Release();
        if (grew)
        {
            WorkersChanged?.Invoke(Workers);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task[] running;
        lock (_lock)
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _stop.Cancel();
            running = [.. _running];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private void AddWorker()
    {
        _workers++;
        var worker = Task.Run(() => WorkAsync(_stop.Token));
        _running.Add(worker);
        _running.RemoveAll(static t => t.IsCompleted);
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    bool extra;
                    lock (_lock)
                    {
                        extra = _workers > _resident;
                    }

                    if (extra)
                    {
                        using var timer = _time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), idle, _idleTimeout, Timeout.InfiniteTimeSpan);
                        try
                        {
                            await _ready.WaitAsync(idle.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                        {
                            lock (_lock)
                            {
                                if (_workers > _resident)
                                {
                                    _workers--;
                                    break;
                                }
                            }

                            continue;
                        }
                    }
                    else
                    {
                        await _ready.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                }

                Func<CancellationToken, Task>? work = null;
                lock (_lock)
                {
                    foreach (var queue in _queues)
                    {
                        if (queue.TryDequeue(out work))
                        {
                            _queued--;
                            break;
                        }
                    }
                }

                if (work is null)
                {
                    continue;
                }

                try
                {
                    await work(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref _failed);
                    WorkFailed(e);
                }

                Interlocked.Increment(ref _completed);
                ItemDone?.Invoke();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            lock (_lock)
            {
                _workers--;
            }

            return;
        }

        WorkersChanged?.Invoke(Workers);
    }

    [LoggerMessage(1, LogLevel.Error, "A work item failed; its worker goes on")]
    private partial void WorkFailed(Exception exception);
}
