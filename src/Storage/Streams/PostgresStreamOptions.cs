namespace Trellis.Storage.Streams;

/// <summary>How Trellis runs Orleans' ADO.NET stream provider on PostgreSQL (the knobs that decide latency and recovery).</summary>
/// <remarks>Issue 10 §4: app facts reach watchers on any gateway through Orleans streams; in a cluster they must survive a silo kill.</remarks>
public sealed class PostgresStreamOptions
{
    /// <summary>How long a pulling agent waits after an empty read before it reads its queue again. Orleans' default is 100 ms.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// How long a dequeued message stays invisible to other readers until it is confirmed. After a silo dies, the messages
    /// its agent had read but not confirmed reach the agent that takes over the queue only when this has passed, so it
    /// bounds the recovery time; it must exceed the longest delivery, or a slow delivery is repeated. Whole seconds
    /// (the SQL takes seconds; a fraction is rounded up). Orleans' default is 1 minute.
    /// </summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Deliveries a message may have before it moves to the dead letters. Orleans' default is 5.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>How long an unconfirmed message stays in the queue before it moves to the dead letters. Orleans' default is 10 minutes.</summary>
    public TimeSpan ExpiryTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Messages an agent keeps per queue. A message is confirmed (deleted from the table) only when every consumer has
    /// moved past its tenth of the cache, and a read takes at most a tenth of it: 100 caps one queue near 230 events/s. Orleans'
    /// default is 4096.
    /// </summary>
    public int CacheSize { get; set; } = 1000;

    /// <summary>Queues per provider; a stream always maps to one queue, so order holds per stream whatever the count. Orleans' ADO.NET default is 1.</summary>
    public int Queues { get; set; } = 1;

    /// <summary>Whether the silo or client applies Orleans' persistence and streaming scripts at start (a no-op on a prepared database).</summary>
    public bool ApplySchema { get; set; } = true;

    internal void Validate(string name)
    {
        Check(PollInterval > TimeSpan.Zero && PollInterval <= TimeSpan.FromSeconds(10), nameof(PollInterval), "must be more than 0 and at most 10 s");
        Check(VisibilityTimeout >= TimeSpan.FromSeconds(1), nameof(VisibilityTimeout), "must be at least 1 s");
        Check(MaxAttempts >= 1, nameof(MaxAttempts), "must be at least 1");
        Check(ExpiryTimeout > VisibilityTimeout, nameof(ExpiryTimeout), "must be longer than VisibilityTimeout");
        Check(CacheSize >= 10, nameof(CacheSize), "must be at least 10");
        Check(Queues >= 1, nameof(Queues), "must be at least 1");

        void Check(bool ok, string option, string rule)
        {
            if (!ok)
            {
                throw new Orleans.Runtime.OrleansConfigurationException($"Stream provider '{name}': {nameof(PostgresStreamOptions)}.{option} {rule}.");
            }
        }
    }
}
