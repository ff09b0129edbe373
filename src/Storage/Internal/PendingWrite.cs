namespace Trellis.Storage.Internal;

/// <summary>One queued write: its outcome is staged while the batch runs and published only once the batch is durable.</summary>
internal abstract class PendingWrite
{
    private const int Queued = 0;
    private const int Taken = 1;
    private const int Abandoned = 2;

    private int _state;

    /// <summary>Payload size, used to bound the bytes of one batch.</summary>
    public abstract int PayloadBytes { get; }

    /// <summary>Claims the write for a batch; false when its caller gave up while it was queued.</summary>
    public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued;

    protected bool TryAbandon() => Interlocked.CompareExchange(ref _state, Abandoned, Queued) == Queued;

    /// <summary>Records that the write failed on its own (a refused check or an error of its own statement).</summary>
    public abstract void Reject(Exception error);

    /// <summary>Forgets the staged outcome before the write runs again (the batch was rolled back).</summary>
    public abstract void Reset();

    /// <summary>Completes the caller's task with the staged outcome; call only after the commit returned.</summary>
    public abstract void Publish();
}

/// <summary>A queued write whose caller awaits a value of <typeparamref name="T"/>.</summary>
internal abstract class PendingWrite<T> : PendingWrite
{
    private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _token;
    private T? _result;
    private Exception? _error;
    private bool _hasOutcome;

    public Task<T> Task => _done.Task;

    /// <summary>Lets the caller give up while the write still waits in the queue; once taken into a batch it runs to the end.</summary>
    public void CancelWhileQueued(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            _token = cancellationToken;
            _cancellation = cancellationToken.Register(static state => ((PendingWrite<T>)state!).OnCancelled(), this);
        }
    }

    public void Succeed(T result)
    {
        _result = result;
        _error = null;
        _hasOutcome = true;
    }

    public override void Reject(Exception error)
    {
        _error = error;
        _hasOutcome = true;
    }

    public override void Reset()
    {
        _result = default;
        _error = null;
        _hasOutcome = false;
    }

    public override void Publish()
    {
        _cancellation.Dispose();
        if (_error is not null)
        {
            _done.TrySetException(_error);
        }
        else if (_hasOutcome)
        {
            _done.TrySetResult(_result!);
        }
        else
        {
            _done.TrySetException(new InvalidOperationException("The store finished a batch without an outcome for this write."));
        }
    }

    private void OnCancelled()
    {
        if (TryAbandon())
        {
            _done.TrySetCanceled(_token);
        }
    }
}
