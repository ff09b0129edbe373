using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using Trellis.TestKit;
using Trellis.Storage.Postgres;
using Trellis.Storage.Tests.Grains;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>Two silos on Orleans' ADO.NET clustering, persistence and reminders over PostgreSQL prepared by <see cref="OrleansSchema"/>.</summary>
[Collection(SiloCollection.Name)]
public sealed class PostgresClusterTests
{
    private const string Invariant = "Npgsql";
    private static readonly TimeSpan TickWait = TimeSpan.FromSeconds(30);
    private readonly ErrorLog _errors = new();

    [Fact]
    public async Task Persisted_state_and_reminders_outlive_the_silo_that_held_the_grain()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await OrleansSchema.ApplyAsync(database.ConnectionString);
        var cluster = (Id: $"cluster-{Guid.NewGuid():N}", Service: $"service-{Guid.NewGuid():N}");

        var silos = new List<IHost>();
        try
        {
            silos.Add(await StartSiloAsync(database.ConnectionString, cluster));
            silos.Add(await StartSiloAsync(database.ConnectionString, cluster));
            await silos[0].WaitForActiveSilosAsync(2, "both silos joined");
            await silos[1].WaitForActiveSilosAsync(2, "both silos joined");

            var counter = silos[0].Grains().GetGrain<ICounterGrain>("bob");
            await counter.Add(7);
            Assert.Equal(10, await counter.Add(3));
            var ticker = silos[0].Grains().GetGrain<ITickerGrain>("pg-clock");
            await ticker.Start("tick", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            Assert.Equal(["tick"], await ticker.Reminders());
            Assert.Equal("tick", await database.ScalarAsync<string>("SELECT ReminderName FROM OrleansRemindersTable"));
            Assert.Equal(1L, await database.ScalarAsync<long>("SELECT count(*) FROM OrleansStorage WHERE PayloadBinary IS NOT NULL"));

            // Stop whichever silo holds the counter; the other one must serve it from the database.
            var holder = await counter.Silo();
            var victim = silos.Single(s => s.Address() == holder);
            var survivor = silos.Single(s => s != victim);
            var ticksBefore = survivor.Ticks().Count("pg-clock", "tick");
            silos.Remove(victim);
            await Silos.StopAsync(victim);
            await survivor.WaitForActiveSilosAsync(1, $"silo {holder} left");

            var moved = survivor.Grains().GetGrain<ICounterGrain>("bob");
            Assert.Equal(10, await moved.Get());
            Assert.Equal(survivor.Address(), await moved.Silo());
            Assert.Equal(12, await moved.Add(2));
            Assert.Equal(["tick"], await survivor.Grains().GetGrain<ITickerGrain>("pg-clock").Reminders());
            await survivor.Ticks().WaitForAsync("pg-clock", "tick", ticksBefore + 1, TickWait);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await Silos.StopAsync(silo);
            }
        }

        _errors.WriteTo(TestContext.Current.TestOutputHelper);
        Assert.Empty(_errors.Errors);
    }

    private Task<IHost> StartSiloAsync(string connectionString, (string Id, string Service) cluster)
        => Silos.StartAsync(_errors, silo =>
        {
            silo.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = cluster.Id;
                options.ServiceId = cluster.Service;
            });
            silo.OnFreePorts();
            silo.UseAdoNetClustering(options =>
            {
                options.Invariant = Invariant;
                options.ConnectionString = connectionString;
            });
            silo.AddAdoNetGrainStorageAsDefault(options =>
            {
                options.Invariant = Invariant;
                options.ConnectionString = connectionString;
            });
            silo.UseAdoNetReminderService(options =>
            {
                options.Invariant = Invariant;
                options.ConnectionString = connectionString;
            });
        });
}
