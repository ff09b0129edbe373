using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Providers;
using Orleans.Runtime;
using Orleans.Storage;
using Trellis.Storage.Streams.Internal;

namespace Trellis.Storage.Streams;

/// <summary>Adds Orleans' ADO.NET stream provider on PostgreSQL to a silo or a client, with the PubSub store it needs.</summary>
/// <remarks>
/// Issue 10 §4. Silos and clients of one cluster must name the same provider, database and <see cref="PostgresStreamOptions.Queues"/>:
/// a producer writes the queue row itself (a client too), and the silo that owns the queue reads it and delivers.
/// </remarks>
public static class PostgresStreamsExtensions
{
    /// <summary>The ADO.NET invariant of Npgsql, as Orleans' ADO.NET providers spell it.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>
    /// Adds the stream provider <paramref name="name"/> on the PostgreSQL database <paramref name="connectionString"/>, and the
    /// grain storage <c>PubSubStore</c> in the same database unless the silo has one already, so that subscriptions outlive
    /// the silo that took them. Orleans' persistence and streaming scripts are applied first, at silo start.
    /// </summary>
    public static ISiloBuilder AddTrellisPostgresStreams(this ISiloBuilder builder, string name, string connectionString, Action<PostgresStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = Options(name, connectionString, configure);

        if (options.ApplySchema)
        {
            builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => NewSchemaParticipant(sp, connectionString));
        }

        if (!HasGrainStorage(builder.Services, ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME))
        {
            builder.AddAdoNetGrainStorage(ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME, storage =>
            {
                storage.Invariant = Invariant;
                storage.ConnectionString = connectionString;
            });
        }

        builder.AddAdoNetStreams(name, (SiloAdoNetStreamConfigurator streams) =>
        {
            streams.ConfigureAdoNet(ob => ob.Configure(o => Apply(options, connectionString, o)));
            streams.ConfigurePartitioning(options.Queues);
            streams.ConfigureCache(options.CacheSize);
            streams.ConfigurePullingAgent(ob => ob.Configure(o => o.GetQueueMsgsTimerPeriod = options.PollInterval));
        });
        return builder;
    }

    /// <summary>
    /// Adds the stream provider <paramref name="name"/> on <paramref name="connectionString"/> to a cluster client: it may then
    /// publish (it writes queue rows itself) and subscribe (the silos deliver to it through a gateway).
    /// </summary>
    public static IClientBuilder AddTrellisPostgresStreams(this IClientBuilder builder, string name, string connectionString, Action<PostgresStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = Options(name, connectionString, configure);

        if (options.ApplySchema)
        {
            builder.Services.AddSingleton<ILifecycleParticipant<IClusterClientLifecycle>>(sp => NewSchemaParticipant(sp, connectionString));
        }

        builder.AddAdoNetStreams(name, (ClusterClientAdoNetStreamConfigurator streams) =>
        {
            streams.ConfigureAdoNet(ob => ob.Configure(o => Apply(options, connectionString, o)));
            streams.ConfigurePartitioning(options.Queues);
        });
        return builder;
    }

    private static PostgresStreamOptions Options(string name, string connectionString, Action<PostgresStreamOptions>? configure)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        var options = new PostgresStreamOptions();
        configure?.Invoke(options);
        options.Validate(name);
        return options;
    }

    private static void Apply(PostgresStreamOptions options, string connectionString, AdoNetStreamOptions adoNet)
    {
        adoNet.Invariant = Invariant;
        adoNet.ConnectionString = connectionString;
        adoNet.VisibilityTimeout = options.VisibilityTimeout;
        adoNet.MaxAttempts = options.MaxAttempts;
        adoNet.ExpiryTimeout = options.ExpiryTimeout;
    }

    private static SchemaParticipant NewSchemaParticipant(IServiceProvider services, string connectionString)
        => new(connectionString, services.GetRequiredService<ILogger<SchemaParticipant>>());

    private static bool HasGrainStorage(IServiceCollection services, string name)
        => services.Any(d => d.IsKeyedService && d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, name));
}
