namespace Trellis.Edge.Work;

/// <summary>How urgently a message to the device is served: every queued high before any normal before any low.</summary>
public enum Priority
{
    High = 0,
    Normal = 1,
    Low = 2,
}

/// <summary>Runs the device's work (requests for its services, commands from the cluster) in priority order on a pool
/// of workers that grows with the queue and shrinks when idle.</summary>
public interface IWorkScheduler
{
    /// <summary>Queues <paramref name="work"/>; it runs when a worker takes it, highest priority first, FIFO within one.
    /// The token is cancelled when the scheduler stops.</summary>
    void Post(Priority priority, Func<CancellationToken, Task> work);
}
