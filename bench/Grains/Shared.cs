using Trellis.Core.Bus;
using Trellis.Core.Grains;
using Trellis.Core.Persistence;
using Trellis.Core.Transport.InMemory;

namespace Trellis.Bench.Grains;

/// <summary>One silo on the in-process bus and the in-memory store, holding every shard before it returns.</summary>
internal sealed class OneSilo : IAsyncDisposable
{
    private OneSilo(MessageBus bus, SiloRuntime silo, InMemoryStateStore store)
    {
        Bus = bus;
        Silo = silo;
        Store = store;
    }

    public MessageBus Bus { get; }

    public SiloRuntime Silo { get; }

    public InMemoryStateStore Store { get; }

    public static async Task<OneSilo> StartAsync(Action<GrainTypes> register, int shards = 16)
    {
        var options = new GrainsOptions
        {
            Cluster = $"bench-{Guid.NewGuid():N}",
            Shards = shards,
            BalanceInterval = TimeSpan.FromMilliseconds(100),
            IdleTimeout = TimeSpan.FromHours(1),
            SiloName = "bench",
        };
        var types = new GrainTypes();
        register(types);
        var store = new InMemoryStateStore();
        var bus = await MessageBus.StartAsync(new InMemoryTransport(new InMemoryBroker()));
        var silo = await SiloRuntime.StartAsync(bus, store, types, options);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (silo.OwnedShards.Count < shards)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the bench silo owns {silo.OwnedShards.Count} of {shards} shards after 30 s");
            }

            await Task.Delay(20);
        }

        return new OneSilo(bus, silo, store);
    }

    public async ValueTask DisposeAsync()
    {
        await Silo.DisposeAsync();
        await Bus.DisposeAsync();
    }
}
