using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Streams;
using Orleans.TestingHost;
using Trellis.Storage.Streams;
using Trellis.Storage.Tests.Support;

namespace Trellis.Storage.Tests.Streams;

/// <summary>
/// Orleans' in-process test cluster with the PostgreSQL stream provider on silos and client. Each silo reaches the
/// database through a <see cref="TcpProxy"/> of its own and names itself in <c>application_name</c>, so a test can see
/// which silo reads the queue and cut that silo off the database when it kills it.
/// </summary>
public sealed class StreamCluster : IAsyncDisposable
{
    public const string Provider = "facts";
    public const string Namespace = "app-facts";

    private readonly Dictionary<string, TcpProxy> _proxies = [];
    private readonly string _connectionString;

    private StreamCluster(string connectionString)
    {
        _connectionString = connectionString;
    }

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public ErrorLog Errors { get; } = new();

    public IAsyncStream<StreamFact> Stream(string key)
        => Cluster.Client.GetStreamProvider(Provider).GetStream<StreamFact>(StreamId.Create(Namespace, key));

    public static async Task<StreamCluster> StartAsync(string connectionString, short silos, Action<PostgresStreamOptions>? configure = null)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var self = new StreamCluster(connectionString);
        var errors = self.Errors;
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) => host.Logging.AddProvider(errors));
        builder.ConfigureClientHost(host => host.Logging.AddProvider(errors));
        builder.ConfigureSilo((silo, siloBuilder) =>
        {
            var proxy = new TcpProxy(target.Port);
            lock (self._proxies)
            {
                self._proxies[silo.SiloName] = proxy;
            }

            var viaProxy = new NpgsqlConnectionStringBuilder(connectionString) { Port = proxy.Port, ApplicationName = silo.SiloName }.ConnectionString;
            siloBuilder.AddTrellisPostgresStreams(Provider, viaProxy, configure);
            siloBuilder.Configure<ClusterMembershipOptions>(static options =>
            {
                // Declare a killed silo dead within a few seconds, so its queue moves soon.
                options.ProbeTimeout = TimeSpan.FromSeconds(1);
                options.NumMissedProbesLimit = 2;
            });
        });
        builder.ConfigureClient(client => client.AddTrellisPostgresStreams(Provider, connectionString, configure));

        self.Cluster = builder.Build();
        await self.Cluster.DeployAsync();
        return self;
    }

    /// <summary>The silo whose connection ran the queue read most recently: the one holding the pulling agent.</summary>
    public async Task<InProcessSiloHandle> QueueOwnerAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        string? owner = null;
        var seen = "";
        while (!deadline.IsCancellationRequested)
        {
            await using (var connection = new NpgsqlConnection(_connectionString))
            {
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand(
                    """
                    SELECT application_name FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE '%GetStreamMessages%' AND state_change > now() - interval '500 milliseconds'
                    GROUP BY application_name
                    """, connection);
                var names = new List<string>();
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    names.Add(reader.GetString(0));
                }

                owner = names.Count == 1 ? names[0] : null;
                seen = string.Join(", ", names);
            }

            var silo = Cluster.Silos.FirstOrDefault(s => s.Name == owner);
            if (silo is not null)
            {
                return silo;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"queue owner: expected one silo reading the queue within {timeout.TotalSeconds:0} s, last saw [{seen}] among {string.Join(", ", Cluster.Silos.Select(static s => s.Name))}");
    }

    /// <summary>Cuts the silo off the database (as its death would) and kills it.</summary>
    public async Task KillAsync(InProcessSiloHandle silo)
    {
        TcpProxy proxy;
        lock (_proxies)
        {
            proxy = _proxies[silo.Name];
        }

        proxy.Cut();
        await Cluster.KillSiloAsync(silo);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        foreach (var proxy in _proxies.Values)
        {
            await proxy.DisposeAsync();
        }
    }
}
