using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting;
using Trellis.TestKit;
using Trellis.Storage.Tests.Grains;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>A real silo (localhost clustering) on the PostgreSQL group-commit grain storage: grain state comes back after a restart.</summary>
[Collection(SiloCollection.Name)]
public sealed class PostgresSiloTests
{
    private readonly ErrorLog _errors = new();

    [Fact]
    public async Task A_persisted_grain_keeps_its_count_when_the_silo_restarts()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var serviceId = $"svc-{Guid.NewGuid():N}";

        var first = await StartSiloAsync(database.ConnectionString, serviceId);
        try
        {
            var counter = first.Grains().GetGrain<ICounterGrain>("carol");
            await counter.Add(4);
            Assert.Equal(10, await counter.Add(6));
        }
        finally
        {
            await Silos.StopAsync(first);
        }

        // The serializer configured on the silo (System.Text.Json) wrote the row, and the commit is in the database.
        var stored = await database.ScalarAsync<byte[]>($"SELECT data FROM trellis_orleans_grain_state WHERE service_id = '{serviceId}' AND provider = 'Default' AND grain_id = 'counter/carol' AND state_name = 'counter'");
        using (var json = JsonDocument.Parse(stored))
        {
            Assert.Equal(10, json.RootElement.GetProperty("Total").GetInt32());
        }

        var second = await StartSiloAsync(database.ConnectionString, serviceId);
        try
        {
            var counter = second.Grains().GetGrain<ICounterGrain>("carol");
            Assert.Equal(10, await counter.Get());
            Assert.Equal(13, await counter.Add(3));
        }
        finally
        {
            await Silos.StopAsync(second);
        }

        Assert.Equal(3L, await database.ScalarAsync<long>("SELECT version FROM trellis_orleans_grain_state WHERE grain_id = 'counter/carol'"));
        _errors.WriteTo(TestContext.Current.TestOutputHelper);
        Assert.Empty(_errors.Errors);
    }

    private Task<IHost> StartSiloAsync(string connectionString, string serviceId)
        => Silos.StartAsync(_errors, silo =>
        {
            var ports = FreePorts.Take(2);
            silo.UseLocalhostClustering(siloPort: ports[0], gatewayPort: ports[1], serviceId: serviceId, clusterId: "trellis-test");
            silo.UseSystemTextJsonGrainStorageSerializer();
            silo.AddTrellisPostgresGrainStorageAsDefault(connectionString);
        });
}
