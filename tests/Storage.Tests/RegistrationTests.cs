using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using Trellis.TestKit;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>What the registration extensions wire: the serializer each provider gets, and start-up validation.</summary>
[Collection(SiloCollection.Name)]
public sealed class RegistrationTests
{
    [Fact]
    public void A_provider_takes_the_serializer_registered_under_its_name_else_the_silo_default()
    {
        var global = new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions()));
        var keyed = new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions()));
        var services = new ServiceCollection();
        services.AddSingleton<IGrainStorageSerializer>(global);
        services.AddKeyedSingleton<IGrainStorageSerializer>("special", keyed);
        services.AddTrellisSqliteGrainStorage("special", options => options.Configure(o => o.Path = "special.db"));
        services.AddTrellisSqliteGrainStorage("plain", options => options.Configure(o => o.Path = "plain.db"));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>();

        Assert.Same(keyed, options.Get("special").GrainStorageSerializer);
        Assert.Same(global, options.Get("plain").GrainStorageSerializer);
        Assert.Equal("special.db", options.Get("special").Path);
    }

    [Fact]
    public async Task A_silo_with_an_invalid_storage_option_refuses_to_start_and_names_it()
    {
        var errors = new ErrorLog();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => Silos.StartAsync(errors, silo =>
        {
            var ports = FreePorts.Take(2);
            silo.UseLocalhostClustering(siloPort: ports[0], gatewayPort: ports[1]);
            silo.AddTrellisSqliteGrainStorage("broken", options => options.BusyTimeout = TimeSpan.Zero);
        }));

        var configuration = Assert.IsType<OrleansConfigurationException>(error);
        Assert.Contains("'broken'", configuration.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(SqliteGrainStorageOptions.BusyTimeout), configuration.Message, StringComparison.Ordinal);
    }
}
