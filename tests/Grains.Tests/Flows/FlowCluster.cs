using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;
using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.Grains.Flows;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Grains.Tests.Flows;

/// <summary>A two-silo test cluster set up as Trellis sets up flows: every silo shares one in-process msgflo broker,
/// runs the <c>fbp</c> discovery consumer (one holds the queue) and the flow grains; the test talks to it through
/// <see cref="FlowNetworks"/> on the cluster client, as a gateway does.</summary>
public sealed class FlowCluster : IAsyncLifetime
{
    private readonly LogSink _log = new();

    public InMemoryFlowBroker Broker { get; } = new();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public FlowNetworks Networks { get; private set; } = null!;

    /// <summary>What the silos logged at warning and above.</summary>
    public IReadOnlyCollection<string> Logged => _log.Entries;

    public async ValueTask InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Logging.AddProvider(_log);
            host.Services.AddSingleton<IFlowBroker>(Broker);
            host.Services.AddSingleton(new FlowsOptions { DiscoveryRetry = TimeSpan.FromMilliseconds(200) });
            host.Services.AddSingleton(TimeProvider.System);
            host.Services.AddSingleton<FlowDiscoveryService>();
            host.Services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<FlowDiscoveryService>());
        });
        builder.ConfigureSilo((_, silo) => silo.AddMemoryGrainStorageAsDefault());
        Cluster = builder.Build();
        await Cluster.DeployAsync().Within("the 2-silo flow test cluster to start");
        Networks = new FlowNetworks(Cluster.Client, Broker);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Broker.DisposeAsync();
    }

    /// <summary>The discovery consumers of the running silos.</summary>
    public IEnumerable<FlowDiscoveryService> Consumers =>
        Cluster.GetActiveSilos().Select(s => s.SiloHost.Services.GetRequiredService<FlowDiscoveryService>());

    private sealed class LogSink : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _entries = new();

        public IReadOnlyCollection<string> Entries => _entries;

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    entries.Enqueue($"{logLevel} {category}: {formatter(state, exception)}");
                }
            }
        }
    }
}
