using Trellis.Core.Persistence;
using Trellis.Core.Transport;
using Trellis.TestKit.Grains;

namespace Trellis.Transport.RabbitMq.Tests;

/// <summary>Grains whose shard queues live on the real broker: exclusive consumers, redelivery to the next owner.</summary>
public sealed class RabbitMqPlacementTests : PlacementSuite
{
    private readonly string _prefix = Broker.NewPrefix("grains");

    protected override Func<ITransport>? Transport => () => Broker.Transport(_prefix);

    protected override ValueTask<IStateStore> OpenStoreAsync() => ValueTask.FromResult<IStateStore>(new InMemoryStateStore());
}

public sealed class RabbitMqAppTests : AppSuite
{
    private readonly string _prefix = Broker.NewPrefix("apps");

    protected override Func<ITransport>? Transport => () => Broker.Transport(_prefix);

    protected override ValueTask<IStateStore> OpenStoreAsync() => ValueTask.FromResult<IStateStore>(new InMemoryStateStore());
}
