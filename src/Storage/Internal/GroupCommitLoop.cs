using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Trellis.Storage;

namespace Trellis.Storage.Internal;

/// <summary>
/// One writer per store: takes queued writes in batches and commits each batch in one transaction (one fsync), so
/// durable throughput is not capped by one fsync per write.
/// </summary>
/// <remarks>
/// There is no timer: the loop commits as soon as it is free, so a lone writer is never delayed, and batches form by
/// themselves from the writes that arrived while the previous commit was waiting for the disk. The queue is bounded:
/// when it is full, writers wait for room (back-pressure) instead of growing memory.
/// </remarks>
internal sealed partial class GroupCommitLoop<TWrite> : IGroupCommitProbe, IAsyncDisposable
    where TWrite : PendingWrite
{
    private readonly Channel<TWrite> _queue;
    private readonly Func<List<TWrite>, ValueTask> _commitBatch;
    private readonly int _maxBatchSize;
    private readonly long _maxBatchBytes;
    private readonly ILogger _logger;
    private readonly string _storeName;
    private readonly Task _loop;
    private long _batches;
    private long _writes;
    private int _largestBatch;
    private int _lastBatch;

    /// <param name="commitBatch">Runs the writes of a batch in one transaction and commits it. It must leave an outcome
    /// on every write (<see cref="PendingWrite{T}.Succeed"/> or <see cref="PendingWrite.Reject"/>); if it throws, every
    /// write of the batch fails with that exception.</param>
    public GroupCommitLoop(string storeName, GrainStorageOptions options, Func<List<TWrite>, ValueTask> commitBatch, ILogger logger)
    {
        _storeName = storeName;
        _commitBatch = commitBatch;
        _maxBatchSize = options.MaxBatchSize;
        _maxBatchBytes = options.MaxBatchBytes;
        _logger = logger;
        _queue = Channel.CreateBounded<TWrite>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    public Func<ValueTask>? BeforeBatch { get; set; }

    public GroupCommitStats Stats => new(Volatile.Read(ref _batches), Volatile.Read(ref _writes), Volatile.Read(ref _largestBatch), Volatile.Read(ref _lastBatch));

    /// <summary>Queues a write, waiting for room while the queue is full; the write's own task reports the outcome.</summary>
    public async ValueTask EnqueueAsync(TWrite write, CancellationToken cancellationToken)
    {
        try
        {
            await _queue.Writer.WriteAsync(write, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(_storeName, "The store was disposed; no more writes are accepted.");
        }
    }

    /// <summary>Stops accepting writes, commits everything already queued, then returns.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<TWrite>(_maxBatchSize);
        TWrite? carried = null;

        while (carried is not null || await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            long bytes = 0;
            if (carried is not null)
            {
                batch.Add(carried);
                bytes = carried.PayloadBytes;
                carried = null;
            }

            while (batch.Count < _maxBatchSize && reader.TryRead(out var write))
            {
                if (!write.TryTake())
                {
                    continue;
                }

                if (batch.Count > 0 && bytes + write.PayloadBytes > _maxBatchBytes)
                {
                    carried = write;
                    break;
                }

                batch.Add(write);
                bytes += write.PayloadBytes;
            }

            if (batch.Count == 0)
            {
                continue;
            }

            await CommitAsync(batch).ConfigureAwait(false);
        }
    }

    private async ValueTask CommitAsync(List<TWrite> batch)
    {
        try
        {
            if (BeforeBatch is { } hook)
            {
                await hook().ConfigureAwait(false);
            }

            await _commitBatch(batch).ConfigureAwait(false);
        }
        catch (Exception error)
        {
            LogBatchFailed(_logger, _storeName, batch.Count, error);
            foreach (var write in batch)
            {
                write.Reject(error);
            }
        }

        _batches++;
        _writes += batch.Count;
        _lastBatch = batch.Count;
        if (batch.Count > _largestBatch)
        {
            _largestBatch = batch.Count;
        }

        foreach (var write in batch)
        {
            write.Publish();
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Store}: a batch of {Count} writes failed and none of them was committed")]
    private static partial void LogBatchFailed(ILogger logger, string store, int count, Exception error);
}

/// <summary>What tests may see of a writer loop.</summary>
internal interface IGroupCommitProbe
{
    /// <summary>Runs before each batch is committed; tests use it to hold the writer while they queue a batch.</summary>
    Func<ValueTask>? BeforeBatch { get; set; }

    GroupCommitStats Stats { get; }
}

/// <summary>Counters of a writer loop: batches committed, writes in them, the largest and the last batch size.</summary>
internal readonly record struct GroupCommitStats(long Batches, long Writes, int LargestBatch, int LastBatch);
