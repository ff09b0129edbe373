using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;
using Trellis.Storage;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Sqlite.Internal;

namespace Trellis.Storage.Tests.Support;

/// <summary>The providers built directly, outside a silo, on a real file or database: what the provider tests drive.</summary>
internal static class Providers
{
    /// <summary>Orleans' activator provider (what creates a state instance for a grain that has none), from its serializer services.</summary>
    public static readonly IActivatorProvider Activators = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<IActivatorProvider>();

    public static readonly IGrainStorageSerializer Serializer = new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions()));

    /// <summary>A started grain storage on <paramref name="path"/>; stop it to let go of the file.</summary>
    public static async Task<SqliteGrainStorage> StartStorageAsync(string path, string name = "store", string serviceId = "service", GrainStorageOptions? limits = null, SqliteFiles? files = null)
    {
        var options = new SqliteGrainStorageOptions { Path = path, GrainStorageSerializer = Serializer, Limits = limits ?? new GrainStorageOptions() };
        var storage = new SqliteGrainStorage(name, serviceId, options, files ?? NewFiles(), Activators, NullLogger<SqliteGrainStorage>.Instance);
        await storage.StartAsync(CancellationToken.None);
        return storage;
    }

    /// <summary>A started PostgreSQL grain storage on <paramref name="connectionString"/>; stop it to close its connections.</summary>
    public static async Task<PostgresGrainStorage> StartPostgresStorageAsync(string connectionString, string name = "store", string serviceId = "service", GrainStorageOptions? limits = null)
    {
        var options = new PostgresGrainStorageOptions { ConnectionString = connectionString, GrainStorageSerializer = Serializer, Limits = limits ?? new GrainStorageOptions() };
        var storage = new PostgresGrainStorage(name, serviceId, options, Activators, NullLogger<PostgresGrainStorage>.Instance);
        await storage.StartAsync(CancellationToken.None);
        return storage;
    }

    /// <summary>A started reminder table on <paramref name="path"/>; stop it to let go of the file.</summary>
    public static async Task<SqliteReminderTable> StartRemindersAsync(string path, string serviceId = "service", SqliteFiles? files = null)
    {
        var table = new SqliteReminderTable(serviceId, new SqliteReminderTableOptions { Path = path }, files ?? NewFiles(), NullLogger<SqliteReminderTable>.Instance);
        await table.StartAsync(CancellationToken.None);
        return table;
    }

    public static SqliteFiles NewFiles() => new(TimeProvider.System, NullLoggerFactory.Instance);
}
