namespace Trellis.Core.Grains.Internal;

/// <summary>A grain timer: each tick queues one turn, and a tick that comes while the previous one is still queued or running is skipped.</summary>
internal sealed class ActivationTimer(Activation activation, Func<CancellationToken, ValueTask> callback) : IDisposable
{
    private ITimer? _timer;
    private int _busy;
    private volatile bool _stopped;

    public void Start(TimeProvider time, TimeSpan dueTime, TimeSpan period) =>
        _timer = time.CreateTimer(static state => ((ActivationTimer)state!).Tick(), this, dueTime, period <= TimeSpan.Zero ? Timeout.InfiniteTimeSpan : period);

    public async Task RunCallbackAsync(Activation owner)
    {
        try
        {
            if (!_stopped)
            {
                await callback(owner.Shard.Stopping).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (Activation.MeansShardLost(e))
        {
            owner.OnFenced(e);
        }
        catch (Exception)
        {
            // A failing timer callback must not end the activation; the grain sees its own errors.
        }
        finally
        {
            Release();
        }
    }

    public void Release() => Volatile.Write(ref _busy, 0);

    public void Stop()
    {
        _stopped = true;
        _timer?.Dispose();
    }

    public void Dispose()
    {
        Stop();
        activation.RemoveTimer(this);
    }

    private void Tick()
    {
        if (_stopped || Interlocked.Exchange(ref _busy, 1) == 1)
        {
            return;
        }

        if (!activation.TryEnqueue(new TimerTurn(this)))
        {
            Release();
        }
    }
}
