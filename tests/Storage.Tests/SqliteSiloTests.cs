using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Trellis.TestKit;
using Trellis.Storage.Tests.Grains;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>A real silo (localhost clustering) on the SQLite providers: grain state and reminders come back after a restart.</summary>
[Collection(SiloCollection.Name)]
public sealed class SqliteSiloTests : IDisposable
{
    private static readonly TimeSpan TickWait = TimeSpan.FromSeconds(30);
    private readonly TempFolder _folder = new();
    private readonly ErrorLog _errors = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task State_and_reminders_come_back_when_the_silo_restarts_on_the_same_file()
    {
        var path = _folder.File("data/orleans.db");
        var serviceId = $"svc-{Guid.NewGuid():N}";

        var first = await StartSiloAsync(path, serviceId);
        try
        {
            var counter = first.Grains().GetGrain<ICounterGrain>("alice");
            await counter.Add(5);
            await counter.Add(10);
            Assert.Equal(15, await counter.Get());
            await first.Grains().GetGrain<ITickerGrain>("clock").Start("tick", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            await first.Ticks().WaitForAsync("clock", "tick", 1, TickWait);
        }
        finally
        {
            await Silos.StopAsync(first);
        }

        // The serializer configured on the silo (System.Text.Json) wrote the row, and the commit is in the file.
        using (var stored = JsonDocument.Parse(await ReadStoredStateAsync(path)))
        {
            Assert.Equal(15, stored.RootElement.GetProperty("Total").GetInt32());
        }

        var second = await StartSiloAsync(path, serviceId);
        try
        {
            // Nobody calls the ticker: its reminder must be loaded from the table and fire in the new silo by itself.
            await second.Ticks().WaitForAsync("clock", "tick", 1, TickWait);
            Assert.Equal(["tick"], await second.Grains().GetGrain<ITickerGrain>("clock").Reminders());

            var counter = second.Grains().GetGrain<ICounterGrain>("alice");
            Assert.Equal(15, await counter.Get());
            Assert.Equal(18, await counter.Add(3));
        }
        finally
        {
            await Silos.StopAsync(second);
        }

        _errors.WriteTo(TestContext.Current.TestOutputHelper);
        Assert.Empty(_errors.Errors);
    }

    private Task<IHost> StartSiloAsync(string path, string serviceId)
        => Silos.StartAsync(_errors, silo =>
        {
            var ports = FreePorts.Take(2);
            silo.UseLocalhostClustering(siloPort: ports[0], gatewayPort: ports[1], serviceId: serviceId, clusterId: "trellis-test");
            silo.UseSystemTextJsonGrainStorageSerializer();
            silo.AddTrellisSqliteGrainStorageAsDefault(path);
            silo.UseTrellisSqliteReminders(path);
        });

    private static async Task<string> ReadStoredStateAsync(string path)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT CAST(data AS TEXT) FROM orleans_grain_state WHERE grain_id = 'counter/alice' AND state_name = 'counter' AND provider = 'Default'";
        return (string)(await command.ExecuteScalarAsync())!;
    }
}

/// <summary>Tests that start silos run one at a time: two cores are shared, and silos are heavy.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SiloCollection
{
    public const string Name = "Silos";
}
