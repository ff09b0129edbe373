using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Sqlite.Internal;

namespace Trellis.Storage;

/// <summary>Registers Trellis' Orleans providers on a silo: SQLite grain storage and reminders, PostgreSQL group-commit grain storage.</summary>
public static partial class SiloBuilderExtensions
{
    /// <summary>Adds a SQLite grain storage provider named <paramref name="name"/> on the file <paramref name="path"/>.</summary>
    public static ISiloBuilder AddTrellisSqliteGrainStorage(this ISiloBuilder builder, string name, string path)
        => builder.AddTrellisSqliteGrainStorage(name, options => options.Path = path);

    /// <summary>Adds a SQLite grain storage provider named <paramref name="name"/>.</summary>
    public static ISiloBuilder AddTrellisSqliteGrainStorage(this ISiloBuilder builder, string name, Action<SqliteGrainStorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddTrellisSqliteGrainStorage(name, options => options.Configure(configure));
        return builder;
    }

    /// <summary>Adds a SQLite grain storage provider on <paramref name="path"/> as the silo's default storage (grains that name no provider).</summary>
    public static ISiloBuilder AddTrellisSqliteGrainStorageAsDefault(this ISiloBuilder builder, string path)
        => builder.AddTrellisSqliteGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, path);

    /// <summary>Adds a SQLite grain storage provider named <paramref name="name"/>; the options builder may bind configuration.</summary>
    public static IServiceCollection AddTrellisSqliteGrainStorage(this IServiceCollection services, string name, Action<OptionsBuilder<SqliteGrainStorageOptions>>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        configure?.Invoke(services.AddOptions<SqliteGrainStorageOptions>(name));
        AddSqliteFiles(services);
        // The serializer is picked the Orleans 7+ way: one registered under the provider's name, else the silo default.
        services.TryAddEnumerable(ServiceDescriptor.Transient<IPostConfigureOptions<SqliteGrainStorageOptions>, DefaultStorageProviderSerializerOptionsConfigurator<SqliteGrainStorageOptions>>());
        services.AddSingleton<IConfigurationValidator>(sp => new OptionsValidator(() => sp.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(name).Validate(name)));
        return services.AddGrainStorage(name, SqliteGrainStorage.Create);
    }

    /// <summary>Keeps reminders in the SQLite file <paramref name="path"/> (it may be the grain storage's file) and enables the reminder service.</summary>
    public static ISiloBuilder UseTrellisSqliteReminders(this ISiloBuilder builder, string path)
        => builder.UseTrellisSqliteReminders(options => options.Path = path);

    /// <summary>Keeps reminders in a SQLite file and enables the reminder service.</summary>
    public static ISiloBuilder UseTrellisSqliteReminders(this ISiloBuilder builder, Action<SqliteReminderTableOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.UseTrellisSqliteReminders(options => options.Configure(configure));
        return builder;
    }

    /// <summary>Keeps reminders in a SQLite file and enables the reminder service; the options builder may bind configuration.</summary>
    public static IServiceCollection UseTrellisSqliteReminders(this IServiceCollection services, Action<OptionsBuilder<SqliteReminderTableOptions>>? configure = null)
    {
        configure?.Invoke(services.AddOptions<SqliteReminderTableOptions>());
        services.AddReminders();
        AddSqliteFiles(services);
        services.AddSingleton<IConfigurationValidator>(sp => new OptionsValidator(() => sp.GetRequiredService<IOptions<SqliteReminderTableOptions>>().Value.Validate()));
        services.AddSingleton<IReminderTable>(sp => new SqliteReminderTable(
            sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
            sp.GetRequiredService<IOptions<SqliteReminderTableOptions>>().Value,
            sp.GetRequiredService<SqliteFiles>(),
            sp.GetRequiredService<ILogger<SqliteReminderTable>>()));
        return services;
    }

    private static void AddSqliteFiles(IServiceCollection services)
        => services.TryAddSingleton(sp => new SqliteFiles(sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILoggerFactory>()));

    /// <summary>Runs an options check when the silo validates its configuration at start-up.</summary>
    private sealed class OptionsValidator(Action validate) : IConfigurationValidator
    {
        public void ValidateConfiguration() => validate();
    }
}
