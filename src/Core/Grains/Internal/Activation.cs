using Microsoft.Extensions.Logging;
using Trellis.Core.Persistence;

namespace Trellis.Core.Grains.Internal;

/// <summary>One live instance of a grain on this silo: the grain object, its mailbox, its timers.</summary>
/// <remarks>
/// The mailbox runs one turn at a time on the thread pool and allocates nothing while idle, so an idle activation
/// costs little more than the grain object itself (P6 measures it). The first turn loads state and calls
/// <see cref="Grain.OnActivateAsync"/>; the last calls <see cref="Grain.OnDeactivateAsync"/>. An activation that
/// replaces one still deactivating waits for it first, so one silo never runs two turns of one grain at once.
/// </remarks>
internal sealed partial class Activation
{
    private readonly Lock _lock = new();
    private readonly Task? _predecessor;
    private readonly bool _reentrant;
    private readonly TaskCompletionSource _gone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Queue<Turn>? _queue;
    private List<ActivationTimer>? _timers;
    private ActivationStatus _status = ActivationStatus.Activating;
    private DeactivationReason? _deactivation;
    private bool _running;
    private long _lastActive;

    public Activation(SiloRuntime runtime, GrainId id, ShardSlot shard, Grain grain, bool reentrant, Task? predecessor)
    {
        Runtime = runtime;
        Id = id;
        Shard = shard;
        Grain = grain;
        _reentrant = reentrant;
        _predecessor = predecessor;
        _lastActive = runtime.Time.GetTimestamp();
        grain.Attach(this);
        _queue = new Queue<Turn>(2);
        _queue.Enqueue(new StartTurn());
        _running = true;
        Schedule();
    }

    public SiloRuntime Runtime { get; }

    public GrainId Id { get; }

    public ShardSlot Shard { get; }

    public Grain Grain { get; }

    /// <summary>Completes when the activation has ended and left the table.</summary>
    public Task Gone => _gone.Task;

    public ActivationStatus Status => _status;

    /// <summary>The timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the last call that finished.</summary>
    public long LastActive => Volatile.Read(ref _lastActive);

    public static bool MeansShardLost(Exception e) => e is StaleEpochException or ShardLostException;

    /// <summary>Queues a turn; false when the activation is ending (the caller then makes a new one).</summary>
    public bool TryEnqueue(Turn turn)
    {
        bool start;
        lock (_lock)
        {
            if (_status is ActivationStatus.Deactivating or ActivationStatus.Gone || _deactivation is not null)
            {
                return false;
            }

            (_queue ??= new Queue<Turn>(2)).Enqueue(turn);
            start = !_running;
            _running = true;
        }

        if (start)
        {
            Schedule();
        }

        return true;
    }

    /// <summary>True when nothing is queued or running and no call finished for <paramref name="idleTicks"/>.</summary>
    public bool IsIdle(long now, long idleTicks)
    {
        lock (_lock)
        {
            return !_running && _status == ActivationStatus.Active && now - LastActive >= idleTicks;
        }
    }

    /// <summary>Ends the activation after the turns already queued; <see cref="Grain.OnDeactivateAsync"/> runs unless the shard was lost.</summary>
    public void Deactivate(DeactivationReason reason)
    {
        bool start;
        lock (_lock)
        {
            if (_deactivation is not null || _status == ActivationStatus.Gone)
            {
                return;
            }

            _deactivation = reason;
            (_queue ??= new Queue<Turn>(1)).Enqueue(new StopTurn(reason));
            start = !_running;
            _running = true;
        }

        if (start)
        {
            Schedule();
        }
    }

    public void RequestDeactivation() => Deactivate(DeactivationReason.Requested);

    /// <summary>A state write was refused because another silo holds the shard now: give the shard up.</summary>
    public void OnFenced(Exception e) => Runtime.OnShardFenced(Shard, e);

    public IDisposable RegisterTimer(Func<CancellationToken, ValueTask> callback, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ActivationTimer(this, callback);
        lock (_lock)
        {
            if (_status == ActivationStatus.Gone)
            {
                throw new InvalidOperationException($"grain {Id} is deactivated; timers can only be registered while it is active");
            }

            (_timers ??= []).Add(timer);
        }

        timer.Start(Runtime.Time, dueTime, period);
        return timer;
    }

    public void RemoveTimer(ActivationTimer timer)
    {
        lock (_lock)
        {
            _timers?.Remove(timer);
        }
    }

    public Task<StoredState> ReadStateAsync(CancellationToken cancellationToken) =>
        Runtime.Storage.ReadAsync(Id.Type, Id.Key, cancellationToken);

    public Task<long> WriteStateAsync(byte[] state, long expectedVersion, CancellationToken cancellationToken)
    {
        var fence = Shard.FenceForWrite();
        return Runtime.Storage.WriteAsync(Id.Type, Id.Key, state, expectedVersion, fence, cancellationToken);
    }

    public Task<long> ClearStateAsync(long expectedVersion, CancellationToken cancellationToken)
    {
        var fence = Shard.FenceForWrite();
        return Runtime.Storage.ClearAsync(Id.Type, Id.Key, expectedVersion, fence, cancellationToken);
    }

    private void Schedule() => ThreadPool.UnsafeQueueUserWorkItem(static self => _ = self.RunAsync(), this, preferLocal: false);

    private async Task RunAsync()
    {
        while (true)
        {
            Turn? turn;
            lock (_lock)
            {
                if (_queue is null || !_queue.TryDequeue(out turn))
                {
                    _running = false;
                    _queue = null; // an idle activation holds no queue
                    return;
                }
            }

            if (_status == ActivationStatus.Gone)
            {
                turn.Abandon(new ShardLostException(Shard.Number, $"grain {Id} was deactivated"));
                continue;
            }

            try
            {
                var running = turn.RunAsync(this);
                if (_reentrant && turn is CallTurn or ReminderTurn)
                {
                    _ = running.ContinueWith(static _ => { }, TaskScheduler.Default);
                }
                else
                {
                    await running.ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                // Turns report their own outcome; anything reaching here is a bug in the runtime, not in a grain.
                LogTurnFailed(Runtime.Logger, Id.ToString(), e);
            }

            if (turn.CountsAsActivity)
            {
                Volatile.Write(ref _lastActive, Runtime.Time.GetTimestamp());
            }
        }
    }

    private async Task StartAsync()
    {
        try
        {
            if (_predecessor is not null)
            {
                await _predecessor.ConfigureAwait(false);
            }

            Shard.ThrowIfLost();
            await Grain.LoadStateAsync(Shard.Stopping).ConfigureAwait(false);
            await Grain.OnActivateAsync(Shard.Stopping).ConfigureAwait(false);
            _status = ActivationStatus.Active;
            Runtime.OnActivated(this);
        }
        catch (Exception e)
        {
            LogActivationFailed(Runtime.Logger, Id.ToString(), e.Message);
            Finish(e is OperationCanceledException ? new ShardLostException(Shard.Number, "the shard is being given up") : e);
        }
    }

    private async Task StopAsync(DeactivationReason reason)
    {
        lock (_lock)
        {
            _status = ActivationStatus.Deactivating;
        }

        if (reason != DeactivationReason.ShardLost && !Shard.IsLost)
        {
            try
            {
                using var timeout = new CancellationTokenSource(Runtime.Options.CallTimeout);
                await Grain.OnDeactivateAsync(reason, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogDeactivationFailed(Runtime.Logger, Id.ToString(), e.Message);
            }
        }

        Finish(new ShardLostException(Shard.Number, $"grain {Id} was deactivated ({reason})"));
    }

    /// <summary>Leaves the table, stops timers and fails whatever is still queued with <paramref name="reason"/>.</summary>
    private void Finish(Exception reason)
    {
        List<ActivationTimer>? timers;
        Turn[] abandoned;
        lock (_lock)
        {
            _status = ActivationStatus.Gone;
            timers = _timers;
            _timers = null;
            abandoned = _queue?.ToArray() ?? [];
            _queue?.Clear();
        }

        foreach (var timer in timers ?? [])
        {
            timer.Stop();
        }

        foreach (var turn in abandoned)
        {
            turn.Abandon(reason);
        }

        Runtime.OnDeactivated(this);
        _gone.TrySetResult();
    }

    private sealed class StartTurn : Turn
    {
        public override bool CountsAsActivity => false;

        public override Task RunAsync(Activation activation) => activation.StartAsync();

        public override void Abandon(Exception reason)
        {
        }
    }

    private sealed class StopTurn(DeactivationReason reason) : Turn
    {
        public override bool CountsAsActivity => false;

        public override Task RunAsync(Activation activation) => activation.StopAsync(reason);

        public override void Abandon(Exception reason)
        {
        }
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error, Message = "A turn of grain {Grain} failed inside the runtime")]
    private static partial void LogTurnFailed(ILogger logger, string grain, Exception exception);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Grain {Grain} failed to activate: {Reason}")]
    private static partial void LogActivationFailed(ILogger logger, string grain, string reason);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "Grain {Grain} failed while deactivating: {Reason}")]
    private static partial void LogDeactivationFailed(ILogger logger, string grain, string reason);
}

internal enum ActivationStatus
{
    Activating,
    Active,
    Deactivating,
    Gone,
}
