using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Hosting;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using Trellis.Storage.Postgres;

namespace Trellis.Storage;

public static partial class SiloBuilderExtensions
{
    /// <summary>Adds a PostgreSQL group-commit grain storage provider named <paramref name="name"/> on <paramref name="connectionString"/>.</summary>
    public static ISiloBuilder AddTrellisPostgresGrainStorage(this ISiloBuilder builder, string name, string connectionString)
        => builder.AddTrellisPostgresGrainStorage(name, options => options.ConnectionString = connectionString);

    /// <summary>Adds a PostgreSQL group-commit grain storage provider named <paramref name="name"/>.</summary>
    public static ISiloBuilder AddTrellisPostgresGrainStorage(this ISiloBuilder builder, string name, Action<PostgresGrainStorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddTrellisPostgresGrainStorage(name, options => options.Configure(configure));
        return builder;
    }

    /// <summary>Adds a PostgreSQL group-commit grain storage provider on <paramref name="connectionString"/> as the silo's default storage (grains that name no provider).</summary>
    public static ISiloBuilder AddTrellisPostgresGrainStorageAsDefault(this ISiloBuilder builder, string connectionString)
        => builder.AddTrellisPostgresGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, connectionString);

    /// <summary>Adds a PostgreSQL group-commit grain storage provider as the silo's default storage.</summary>
    public static ISiloBuilder AddTrellisPostgresGrainStorageAsDefault(this ISiloBuilder builder, Action<PostgresGrainStorageOptions> configure)
        => builder.AddTrellisPostgresGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, configure);

    /// <summary>Adds a PostgreSQL group-commit grain storage provider named <paramref name="name"/> on <paramref name="connectionString"/>.</summary>
    public static IServiceCollection AddTrellisPostgresGrainStorage(this IServiceCollection services, string name, string connectionString)
        => services.AddTrellisPostgresGrainStorage(name, options => options.Configure(o => o.ConnectionString = connectionString));

    /// <summary>Adds a PostgreSQL group-commit grain storage provider on <paramref name="connectionString"/> as the default storage.</summary>
    public static IServiceCollection AddTrellisPostgresGrainStorageAsDefault(this IServiceCollection services, string connectionString)
        => services.AddTrellisPostgresGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, connectionString);

    /// <summary>Adds a PostgreSQL group-commit grain storage provider named <paramref name="name"/>; the options builder may bind configuration.</summary>
    public static IServiceCollection AddTrellisPostgresGrainStorage(this IServiceCollection services, string name, Action<OptionsBuilder<PostgresGrainStorageOptions>>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        configure?.Invoke(services.AddOptions<PostgresGrainStorageOptions>(name));
        // The serializer is picked the Orleans 7+ way: one registered under the provider's name, else the silo default.
        services.TryAddEnumerable(ServiceDescriptor.Transient<IPostConfigureOptions<PostgresGrainStorageOptions>, DefaultStorageProviderSerializerOptionsConfigurator<PostgresGrainStorageOptions>>());
        services.AddSingleton<IConfigurationValidator>(sp => new OptionsValidator(() => sp.GetRequiredService<IOptionsMonitor<PostgresGrainStorageOptions>>().Get(name).Validate(name)));
        return services.AddGrainStorage(name, PostgresGrainStorage.Create);
    }
}
