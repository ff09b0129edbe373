namespace Trellis.Core.Bus;

/// <summary>Admits up to N holders. Entering and leaving under the limit are single interlocked operations;
/// only callers over the limit wait (SemaphoreSlim would take a lock on every call).</summary>
internal sealed class ConcurrencyLimiter(int limit)
{
    private readonly SemaphoreSlim _waiters = new(0);
    private int _holders;

    public int Limit => limit;

    /// <summary>Enters at once if under the limit; otherwise the caller must <see cref="WaitAsync"/>.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _holders) <= limit)
        {
            return true;
        }

        // Counted as a waiter from here on: the caller must now WaitAsync (which gives the count back on cancel).
        return false;
    }

    /// <summary>Waits for a slot after <see cref="TryEnter"/> returned false.</summary>
    public async ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _waiters.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _holders);
            throw;
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) >= limit)
        {
            // Someone is counted beyond the limit and waiting: hand the slot over.
            _waiters.Release();
        }
    }
}
