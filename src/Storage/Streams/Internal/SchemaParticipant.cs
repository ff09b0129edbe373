using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Trellis.Storage.Postgres;

namespace Trellis.Storage.Streams.Internal;

/// <summary>Applies Orleans' persistence and streaming scripts before the stream provider and the PubSub store load their queries.</summary>
internal sealed partial class SchemaParticipant(string connectionString, ILogger<SchemaParticipant> logger)
    : ILifecycleParticipant<ISiloLifecycle>, ILifecycleParticipant<IClusterClientLifecycle>
{
    // The parts a stream provider needs: its queue tables and the grain state table of the PubSub store.
    public const OrleansSchemaParts Parts = OrleansSchemaParts.Persistence | OrleansSchemaParts.Streaming;

    // Before both the grain storage (ApplicationServices) and the stream provider's first query.
    private const int Stage = ServiceLifecycleStage.RuntimeInitialize;

    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe(nameof(SchemaParticipant), Stage, ApplyAsync);

    public void Participate(IClusterClientLifecycle lifecycle) => lifecycle.Subscribe(nameof(SchemaParticipant), Stage, ApplyAsync);

    private async Task ApplyAsync(CancellationToken cancellationToken)
    {
        var applied = await OrleansSchema.ApplyAsync(connectionString, Parts, cancellationToken).ConfigureAwait(false);
        if (applied.Count > 0)
        {
            LogApplied(string.Join(", ", applied));
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Applied Orleans' PostgreSQL scripts {Scripts}")]
    private partial void LogApplied(string scripts);
}
