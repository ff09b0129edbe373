using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Providers;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using Trellis.TestKit;
using Trellis.Core.Bus;
using Trellis.Core.Transport.InMemory;
using Trellis.Grains.Apps;

namespace Trellis.Grains.Tests.Support;

/// <summary>Orleans' in-process test cluster set up as Trellis sets up its silos: every silo registers an
/// <see cref="AppRuntime"/> whose bus runs on one in-process broker shared with the test's own bus (so remote agents and
/// clients meet as they do on RabbitMQ), and the apps' memory streams carry watchers' facts.</summary>
public sealed class AppCluster : IAsyncDisposable
{
    private readonly ErrorLog _errors;

    private AppCluster(InProcessTestCluster cluster, InMemoryBroker broker, MessageBus bus, ErrorLog errors)
    {
        _errors = errors;
        Cluster = cluster;
        Broker = broker;
        Bus = bus;
        Apps = new AppClient(cluster.Client);
    }

    public InProcessTestCluster Cluster { get; }

    /// <summary>The in-process broker every silo's bus and the test's bus run on.</summary>
    public InMemoryBroker Broker { get; }

    /// <summary>The test's bus (a gateway's, in production).</summary>
    public MessageBus Bus { get; }

    /// <summary>An app client on the cluster's client and the test's bus.</summary>
    public AppClient Apps { get; private set; }

    public IClusterClient Client => Cluster.Client;

    /// <summary>Errors the silos logged that a test expects (a stopped silo's, say); anything else fails the test at dispose.</summary>
    public Func<string, bool> ExpectedErrors { get; set; } = static _ => false;

    /// <summary>Errors Orleans logs in a healthy cluster as silos come and go: the memory streams' queues are handed over,
    /// and a silo's reads of the queues it hands over, or of queues on a silo that stopped or is stopping, end with these.</summary>
    private static bool Rebalancing(string error) =>
        (error.Contains("OperationCanceledException", StringComparison.Ordinal)
            || error.Contains("SiloUnavailableException", StringComparison.Ordinal)
            || error.Contains("OrleansMessageRejectionException: Silo stopping", StringComparison.Ordinal))
        && (error.StartsWith("Orleans.Providers.MemoryAdapterReceiver", StringComparison.Ordinal) || error.StartsWith($"Orleans.Streams.{AppStreams.Provider}", StringComparison.Ordinal));

    /// <summary>Starts <paramref name="silos"/> silos offering <paramref name="agents"/>, with the storage <paramref name="storage"/> sets as default.</summary>
    public static async Task<AppCluster> StartAsync(Action<ISiloBuilder> storage, AppAgents agents, int silos = 2)
    {
        var broker = new InMemoryBroker();
        var errors = new ErrorLog();
        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Logging.AddProvider(errors);
            host.Services.AddSingleton(new SiloBus(broker));
            host.Services.AddSingleton(sp => new AppRuntime(agents, sp.GetRequiredService<SiloBus>().StartedAsync));
        });
        builder.ConfigureSilo((_, silo) =>
        {
            storage(silo);
            // Watches ride on the apps' streams, as in the all-in-one silo; a test may keep their subscriptions durably.
            if (!silo.Services.Any(static d => d.IsKeyedService && Equals(d.ServiceKey, "PubSubStore")))
            {
                silo.AddMemoryGrainStorage("PubSubStore");
            }

            silo.AddMemoryStreams(AppStreams.Provider, static s =>
            {
                s.ConfigurePartitioning(2);
                s.ConfigurePullingAgent(o => o.Configure(p => p.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(50)));
            });
        });
        builder.ConfigureClient(static client => client.AddMemoryStreams(AppStreams.Provider, static s => s.ConfigurePartitioning(2)));
        var cluster = builder.Build();
        MessageBus? bus = null;
        try
        {
            await cluster.DeployAsync().Within($"the {silos}-silo test cluster to start");
            bus = await MessageBus.StartAsync(new InMemoryTransport(broker));
            return new AppCluster(cluster, broker, bus, errors);
        }
        catch
        {
            if (bus is not null)
            {
                await bus.DisposeAsync();
            }

            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>An app client whose watches end with a kick once more than <paramref name="capacity"/> events wait.</summary>
    public AppClient AppsWithWatchCapacity(int capacity) => new(Client) { WatchCapacity = capacity };

    /// <summary>The silo that holds the app's activation now, or null when it has none.</summary>
    public SiloAddress? SiloOf(string app) =>
        Cluster.TryGetGrainContext(Client.GetGrain<IAppGrain>(app).GetGrainId(), out var context) ? context.Address.SiloAddress : null;

    /// <summary>Moves the app's activation to a silo other than the one <paramref name="other"/> is on, and returns it.</summary>
    public async Task<SiloAddress> MoveAwayFromAsync(string app, string other)
    {
        var avoid = SiloOf(other) ?? throw new InvalidOperationException($"app {other} has no activation to move {app} away from");
        var here = SiloOf(app);
        var target = Cluster.GetActiveSilos().Select(s => s.SiloAddress).First(s => !s.Equals(avoid));
        if (here is null || !here.Equals(target))
        {
            await Cluster.MigrateAsync(Client.GetGrain<IAppGrain>(app), target).Within($"app {app} to move to silo {target}");
        }

        return target;
    }

    /// <summary>Reads the app's record straight from the default grain storage (what the next activation would read).</summary>
    public async Task<IGrainState<AppRecord>> StoredAsync(string app)
    {
        var silo = Cluster.GetActiveSilos().First();
        var storage = silo.SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME);
        var state = new GrainState<AppRecord>(new AppRecord());
        await storage.ReadStateAsync("app", Client.GetGrain<IAppGrain>(app).GetGrainId(), state);
        return state;
    }

    /// <summary>Stops every silo, then starts as many fresh ones and a fresh client: what a cluster restart does, with
    /// only the grain storage carried over.</summary>
    public async Task RestartAsync()
    {
        var count = Cluster.Silos.Count;
        await Cluster.StopSilosAsync().Within("the silos to stop for a restart");
        await Cluster.StartSilosAsync(count).Within($"{count} fresh silos to start");
        await Cluster.InitializeClientAsync().Within("a fresh cluster client to connect");
        Apps = new AppClient(Client);
    }

    public async ValueTask DisposeAsync()
    {
        var unexpected = _errors.Errors.Where(e => !ExpectedErrors(e) && !Rebalancing(e)).ToArray();
        await Cluster.DisposeAsync();
        await Bus.DisposeAsync();
        if (unexpected.Length > 0)
        {
            throw new InvalidOperationException($"The silos logged {unexpected.Length} unexpected error(s):{Environment.NewLine}{string.Join(Environment.NewLine, unexpected)}");
        }
    }

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

    /// <summary>Keeps the errors the silos log.</summary>
    private sealed class ErrorLog : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _errors = new();

        public IReadOnlyCollection<string> Errors => _errors;

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _errors);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> errors) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    errors.Enqueue($"{category}: {formatter(state, exception)} {exception?.GetType().Name}: {exception?.Message}");
                }
            }
        }
    }
}
