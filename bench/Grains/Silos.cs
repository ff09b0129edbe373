using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;
using Trellis.Api.Hosting;
using Trellis.Core.Bus;
using Trellis.Core.Transport.InMemory;
using Trellis.Grains.Apps;
using Trellis.Storage;
using Trellis.Samples.Agents;

namespace Trellis.Bench.Grains;

/// <summary>The reference for P6 and pokes: a bare Orleans grain with a small persisted state field.</summary>
public interface IBareGrain : IGrainWithStringKey
{
    /// <summary>Adds one to the state field and writes the state (a grain turn and a storage write).</summary>
    Task Touch();

    /// <summary>Does nothing (a grain turn only).</summary>
    Task Ping();
}

[GenerateSerializer]
public sealed class BareState
{
    [Id(0)]
    public long Count { get; set; }
}

public sealed class BareGrain([PersistentState("bare")] IPersistentState<BareState> state) : Orleans.Grain, IBareGrain
{
    public Task Touch()
    {
        state.State.Count++;
        return state.WriteStateAsync();
    }

    public Task Ping() => Task.CompletedTask;
}

/// <summary>The all-in-one silo as the real process composes it (<see cref="TrellisApp"/>, role silo, the example agents),
/// on the in-process bus, free ports, no gRPC listener, the grain storage named by <c>Trellis:Storage:Provider</c>.</summary>
internal sealed class AllInOne : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AllInOne(WebApplication app)
    {
        _app = app;
        Client = app.Services.GetRequiredService<IClusterClient>();
    }

    public IClusterClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="storage">Memory or Sqlite.</param>
    /// <param name="sqlitePath">The SQLite file, for Sqlite.</param>
    public static async Task<AllInOne> StartAsync(string storage, string? sqlitePath = null)
    {
        var ports = FreePorts(2);
        var settings = new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = "http://127.0.0.1:0",
            ["Trellis:Grpc:Url"] = "",
            ["Trellis:Transport:Provider"] = "InMemory",
            ["Trellis:Storage:Provider"] = storage,
            ["Trellis:Storage:Sqlite:Path"] = sqlitePath,
            ["Trellis:Cluster:SiloPort"] = ports[0].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Trellis:Cluster:GatewayPort"] = ports[1].ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Trellis:Cluster:ClusterId"] = $"bench-{Guid.NewGuid():N}",
            ["Trellis:Gateway:Id"] = $"bench-{Guid.NewGuid():N}",
        };
        var app = TrellisApp.Build([], "silo", settings, static builder =>
        {
            // Only warnings: the bench prints its own lines.
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddSingleton(new AppAgents().AddExamples());
        });
        await app.StartAsync();
        return new AllInOne(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var listener in listeners)
        {
            listener.Start();
        }

        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var listener in listeners)
        {
            listener.Stop();
        }

        return ports;
    }
}

/// <summary>Orleans' in-process test cluster of <c>n</c> silos set up as Trellis sets up its silos (as
/// tests/Grains.Tests/Support/AppCluster.cs does): an <see cref="AppRuntime"/> with the example agents and a bus on one
/// in-process broker per silo, the apps' memory streams, and the default grain storage <c>storage</c> sets.</summary>
internal sealed class SiloCluster : IAsyncDisposable
{
    private readonly InProcessTestCluster _cluster;

    private SiloCluster(InProcessTestCluster cluster) => _cluster = cluster;

    public IClusterClient Client => _cluster.Client;

    public static async Task<SiloCluster> StartAsync(short silos, Action<ISiloBuilder> storage)
    {
        var broker = new InMemoryBroker();
        var agents = new AppAgents().AddExamples();
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Logging.SetMinimumLevel(LogLevel.Warning);
            host.Services.AddSingleton(new SiloBus(broker));
            host.Services.AddSingleton(sp => new AppRuntime(agents, sp.GetRequiredService<SiloBus>().StartedAsync));
        });
        builder.ConfigureSilo((_, silo) =>
        {
            storage(silo);
            // As Trellis' silos store grain state: Orleans' binary format (src/Hosting/Cluster).
            silo.Services.AddSingleton<Orleans.Storage.IGrainStorageSerializer, Orleans.Storage.OrleansGrainStorageSerializer>();
            silo.AddMemoryGrainStorage("PubSubStore");
            silo.AddMemoryStreams(AppStreams.Provider, static s =>
            {
                s.ConfigurePartitioning(2);
                s.ConfigurePullingAgent(o => o.Configure(p => p.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(50)));
            });
        });
        builder.ConfigureClient(static client => client.AddMemoryStreams(AppStreams.Provider, static s => s.ConfigurePartitioning(2)));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new SiloCluster(cluster);
    }

    public static Action<ISiloBuilder> Memory => static silo => silo.AddMemoryGrainStorageAsDefault();

    public static Action<ISiloBuilder> Sqlite(string path) => silo => silo.AddTrellisSqliteGrainStorageAsDefault(path);

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>A silo's bus on the shared broker, started on first use and stopped with the silo.</summary>
    private sealed class SiloBus(InMemoryBroker broker) : IAsyncDisposable
    {
        private readonly Lazy<Task<MessageBus>> _bus = new(() => MessageBus.StartAsync(new InMemoryTransport(broker)));

        public Task<MessageBus> StartedAsync() => _bus.Value;

        public async ValueTask DisposeAsync()
        {
            if (_bus.IsValueCreated && _bus.Value.IsCompletedSuccessfully)
            {
                await _bus.Value.Result.DisposeAsync();
            }
        }
    }
}
