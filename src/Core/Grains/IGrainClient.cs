using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Core.Grains;

/// <summary>Sends calls to grains wherever they live; any process on the bus can hold one (silos, gateways, tests).</summary>
public interface IGrainClient
{
    /// <summary>Calls a grain and waits for its reply.</summary>
    /// <remarks>
    /// The call waits in the grain's durable shard queue until the silo owning the shard takes it, so it survives a
    /// silo dying mid-call (it is redelivered to the next owner). Reply codes: 200 ok, 4xx/500 from the grain, 404 when
    /// no grain type of that name exists in the cluster, 499 when <paramref name="timeout"/> passed first (the call
    /// may still run later), 503 when the shard queue is full.
    /// </remarks>
    /// <param name="messageId">Identifies the logical call; pass the same id when retrying so the grain can absorb the duplicate.</param>
    Task<Message> CallAsync(GrainId grain, string method, JsonPayload data, string? messageId = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default);

    /// <summary>Sends a call without waiting for its reply (the grain still runs it exactly as a call).</summary>
    ValueTask<PublishStatus> SendAsync(GrainId grain, string method, JsonPayload data, string? messageId = null, CancellationToken cancellationToken = default);
}
