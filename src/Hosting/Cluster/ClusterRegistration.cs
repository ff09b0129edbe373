using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Storage;
using Trellis.Core.Nodes;
using Trellis.Grains.Apps;
using Trellis.Grains.Nodes;
using Trellis.Hosting.Configuration;
using Trellis.Hosting.Messaging;
using Trellis.Storage;
using Trellis.Storage.Postgres;
using Trellis.Storage.Streams;

namespace Trellis.Hosting.Cluster;

/// <summary>Puts the process into the Orleans cluster: a silo (grains, their state and reminders, the dashboard) or, in a
/// gateway, an Orleans client with no state of its own.</summary>
public static class ClusterRegistration
{
    /// <summary>The ADO.NET invariant of Npgsql.</summary>
    public const string PostgresInvariant = "Npgsql";

    /// <summary>Adds the silo (<paramref name="hostSilo"/>) or the cluster client, the apps' runtime and the node store.
    /// Throws naming the key on bad configuration. Call after <c>AddTrellisMessaging</c>.</summary>
    public static WebApplicationBuilder AddTrellisCluster(this WebApplicationBuilder builder, bool hostSilo)
    {
        var configuration = builder.Configuration;
        var storage = ConfigurationBinding.Bind<StorageSettings>(configuration, StorageSettings.Section).Validate();
        var cluster = ConfigurationBinding.Bind<ClusterSettings>(configuration, ClusterSettings.Section).Validate(storage.Postgres.ConnectionString);
        var gateway = configuration["Trellis:Gateway:Id"] is { Length: > 0 } id ? id : DefaultGatewayId(configuration);

        builder.Services.AddSingleton(cluster);
        builder.Services.AddSingleton(storage);
        builder.Services.TryAddSingleton(new AppAgents());
        var activationLog = configuration[ActivationLog.Key] is { Length: > 0 } logPath ? logPath : null;
        if (activationLog is not null)
        {
            builder.Services.AddSingleton(sp => new ActivationLog(activationLog, TimeProvider.System));
        }

        builder.Services.AddSingleton(sp => new AppRuntime(sp.GetRequiredService<AppAgents>(), () => sp.GetRequiredService<BusHost>().Started)
        {
            Activations = activationLog is null ? null : sp.GetRequiredService<ActivationLog>(),
        });
        builder.Services.AddSingleton<INodeStore>(sp => new GrainNodeStore(sp.GetRequiredService<IGrainFactory>(), gateway));
        builder.Services.AddSingleton<ClusterReadiness>();

        if (cluster.IsPostgres || storage.IsPostgres)
        {
            // Before Orleans starts: its ADO.NET providers expect their tables and stored queries.
            builder.Services.AddHostedService(sp => new PostgresSchemaHost(
                cluster.IsPostgres ? cluster.PostgresConnectionString! : storage.Postgres.ConnectionString!, sp.GetRequiredService<ILogger<PostgresSchemaHost>>()));
        }

        if (hostSilo)
        {
            builder.UseOrleans(silo => ConfigureSilo(silo, cluster, storage));
        }
        else
        {
            builder.UseOrleansClient(client => ConfigureClient(client, cluster));
        }

        // Registered after Orleans' own hosted service, so it starts once the silo is up or the client connected.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ClusterReadiness>());
        return builder;
    }

    private static void ConfigureSilo(ISiloBuilder silo, ClusterSettings cluster, StorageSettings storage)
    {
        // Grain calls carry the caller's trace context, so Orleans' spans join the trace of the request that made them.
        silo.AddActivityPropagation();
        silo.Configure<ClusterOptions>(o =>
        {
            o.ServiceId = cluster.ServiceId;
            o.ClusterId = cluster.ClusterId;
        });
        if (cluster.IsPostgres)
        {
            silo.UseAdoNetClustering(o =>
            {
                o.Invariant = PostgresInvariant;
                o.ConnectionString = cluster.PostgresConnectionString;
            });
            var address = cluster.Address;
            silo.ConfigureEndpoints(address, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(address));
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // A killed silo's grains must answer elsewhere well within 10 s (the defaults take 12-16 s here).
                o.ProbeTimeout = cluster.ProbeTimeout;
                o.NumMissedProbesLimit = cluster.MissedProbesLimit;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
            });

            // Orleans' strongly consistent directory: ranges change hands under locks and a crashed silo's ranges are
            // rebuilt from the live silos' activations, so an app never has two activations serving at once. The
            // default directory lets a second activation start while membership changes and leaves the first one
            // answering reads from a stale record (the likely cause of a chaos run whose counters were peeked behind
            // their acknowledged pokes).
#pragma warning disable ORLEANSEXP003 // experimental in Orleans 10; the chaos test runs it through silo kills
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
            silo.Configure<GrainDirectoryOptions>(o =>
            {
                // No extra wait after a crash before a dead silo's grains may activate elsewhere: a silo declared dead
                // stops itself, and a stale activation cannot write past the record's ETag.
                o.RangeLeaseDuration = TimeSpan.Zero;
            });
        }
        else
        {
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
        }

        // Apps' events for client watchers: memory streams in one process; in a cluster, queues in PostgreSQL, so a silo
        // dying does not lose what was published.
        if (cluster.IsPostgres)
        {
            silo.AddTrellisPostgresStreams(AppStreams.Provider, cluster.PostgresConnectionString!);
        }
        else
        {
            silo.AddMemoryStreams(AppStreams.Provider, FastPulling);
            // In one process the memory queues' readers log an error each time a read is cancelled, which happens only
            // as the silo starts or stops (queues are handed over); there is nothing an operator could do about it.
            silo.Services.AddLogging(logging => logging
                .AddFilter("Orleans.Providers.MemoryAdapterReceiver", LogLevel.Critical)
                .AddFilter($"Orleans.Streams.{AppStreams.Provider}", LogLevel.Critical));
        }

        silo.AddDashboard();

        // Grain state in Orleans' own binary format, not the JSON default: a poke rewrites the app's whole record, and
        // JSON with type names was most of a poke's cost (bench pokes).
        silo.Services.AddSingleton<IGrainStorageSerializer, OrleansGrainStorageSerializer>();

        if (storage.IsSqlite)
        {
            var path = Path.GetFullPath(storage.Sqlite.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            silo.AddTrellisSqliteGrainStorageAsDefault(path);
            silo.AddTrellisSqliteGrainStorage("PubSubStore", path);
            silo.UseTrellisSqliteReminders(path);
        }
        else if (storage.IsPostgres)
        {
            // Ours rather than Orleans' ADO.NET storage: group commit wrote 7.5x as fast with 64 writers (bench P5).
            silo.AddTrellisPostgresGrainStorageAsDefault(storage.Postgres.ConnectionString!);
            silo.AddTrellisPostgresGrainStorage("PubSubStore", storage.Postgres.ConnectionString!);
            silo.UseAdoNetReminderService(o =>
            {
                o.Invariant = PostgresInvariant;
                o.ConnectionString = storage.Postgres.ConnectionString;
            });
        }
        else
        {
            silo.AddMemoryGrainStorageAsDefault();
            silo.AddMemoryGrainStorage("PubSubStore");
            silo.UseInMemoryReminderService();
        }
    }

    private static void ConfigureClient(IClientBuilder client, ClusterSettings cluster)
    {
        client.AddActivityPropagation();
        client.Configure<ClusterOptions>(o =>
        {
            o.ServiceId = cluster.ServiceId;
            o.ClusterId = cluster.ClusterId;
        });
        if (cluster.IsPostgres)
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = PostgresInvariant;
                o.ConnectionString = cluster.PostgresConnectionString;
            });
        }
        else
        {
            client.UseStaticClustering(new IPEndPoint(cluster.Address, cluster.GatewayPort));
        }

        if (cluster.IsPostgres)
        {
            client.AddTrellisPostgresStreams(AppStreams.Provider, cluster.PostgresConnectionString!);
        }
        else
        {
            client.AddMemoryStreams(AppStreams.Provider, static s => s.ConfigurePartitioning(2));
        }

        client.AddDashboard();

        // A gateway may start before any silo: keep trying instead of failing the process.
        client.UseConnectionRetryFilter(async (_, cancellationToken) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            return true;
        });
    }

    /// <summary>Memory streams in one process: two queues polled every 50 ms (Orleans' defaults are eight queues and 100 ms).
    /// A poll that takes longer than its period is cancelled and logged as an error, so the period must leave room for a
    /// busy machine; fewer queues keep an idle process cheap.</summary>
    internal static void FastPulling(ISiloMemoryStreamConfigurator streams)
    {
        streams.ConfigurePartitioning(2);
        streams.ConfigurePullingAgent(options => options.Configure(o => o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(50)));
    }

    /// <summary>A gateway's default id: this machine and its HTTP listener, stable across restarts.</summary>
    private static string DefaultGatewayId(IConfiguration configuration) =>
        $"{Environment.MachineName}:{configuration[$"{HttpOptions.Section}:Url"] ?? new HttpOptions().Url}";
}
