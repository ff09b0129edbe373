using Trellis.Core.Bus;
using Trellis.Core.Grains.Internal;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Core.Grains;

/// <summary>Calls grains through their durable shard queues on the bus.</summary>
public sealed class GrainClient : IGrainClient
{
    /// <summary>The durable subscription name of shard queues (one consumer: the lease holder).</summary>
    internal const string ShardGroup = "owner";

    private readonly MessageBus _bus;
    private readonly GrainsOptions _options;
    private readonly string[] _topics;
    private readonly Task?[] _declared;

    public GrainClient(MessageBus bus, GrainsOptions options)
    {
        _bus = bus;
        _options = options.Validate();
        _topics = new string[options.Shards];
        for (var i = 0; i < _topics.Length; i++)
        {
            _topics[i] = ShardTopic(options.Cluster, i);
        }

        _declared = new Task?[options.Shards];
    }

    /// <summary>The topic of a shard's queue in a cluster.</summary>
    public static string ShardTopic(string cluster, int shard) => $"trellis.grains.{cluster}.{shard}";

    public async Task<Message> CallAsync(
        GrainId grain, string method, JsonPayload data, string? messageId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var shard = Prepare(grain, method);
        await DeclareAsync(shard, cancellationToken).ConfigureAwait(false);
        return await _bus.RequestDurableAsync(
            _topics[shard], GrainEnvelope.Write(grain, method, data), messageId ?? NewMessageId(), timeout ?? _options.CallTimeout, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<PublishStatus> SendAsync(
        GrainId grain, string method, JsonPayload data, string? messageId = null, CancellationToken cancellationToken = default)
    {
        var shard = Prepare(grain, method);
        await DeclareAsync(shard, cancellationToken).ConfigureAwait(false);
        return await _bus.PublishDurableAsync(_topics[shard], GrainEnvelope.Write(grain, method, data), messageId ?? NewMessageId(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Declares every shard queue, so calls made before any silo started wait for one instead of failing.</summary>
    public async Task DeclareAllAsync(CancellationToken cancellationToken = default)
    {
        for (var shard = 0; shard < _topics.Length; shard++)
        {
            await DeclareAsync(shard, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static string NewMessageId() => Guid.NewGuid().ToString("N");

    private int Prepare(GrainId grain, string method)
    {
        if (grain.Type is null)
        {
            throw new ArgumentException("the grain id is empty; create it with GrainId.Create or GrainId.Parse", nameof(grain));
        }

        if (string.IsNullOrEmpty(method) || method.Length > 200)
        {
            throw Errors.TrellisException.Invalid("method must be 1 to 200 characters long");
        }

        return grain.ShardOf(_topics.Length);
    }

    private Task DeclareAsync(int shard, CancellationToken cancellationToken)
    {
        var declared = Volatile.Read(ref _declared[shard]);
        if (declared is { IsCompletedSuccessfully: true })
        {
            return Task.CompletedTask;
        }

        if (declared is null || declared.IsFaulted || declared.IsCanceled)
        {
            var declaring = _bus.DeclareDurableQueueAsync(_topics[shard], ShardGroup, cancellationToken: cancellationToken).AsTask();
            Volatile.Write(ref _declared[shard], declaring);
            return declaring;
        }

        return declared;
    }
}
