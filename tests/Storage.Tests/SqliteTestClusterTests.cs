using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;
using Trellis.TestKit;
using Trellis.Storage.Tests.Grains;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>Orleans' in-process test cluster with two silos sharing one SQLite file: a grain and its reminder move to the silo that stays.</summary>
/// <remarks>Each silo opens the file with its own writer, as two processes on one host would; SQLite's file lock orders them.</remarks>
[Collection(SiloCollection.Name)]
public sealed class SqliteTestClusterTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_grain_reactivates_with_its_state_and_its_reminder_keeps_ticking_after_its_silo_stops()
    {
        var path = _folder.File("cluster.db");
        var builder = new InProcessTestClusterBuilder(2);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) => host.Services.AddSingleton<TickLog>());
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddTrellisSqliteGrainStorageAsDefault(path);
            silo.UseTrellisSqliteReminders(path);
            silo.Configure<ReminderOptions>(Silos.FastReminders);
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();

        var counter = cluster.Client.GetGrain<ICounterGrain>("carol");
        await Task.WhenAll(Enumerable.Range(1, 20).Select(i => cluster.Client.GetGrain<ICounterGrain>($"other-{i}").Add(i)));
        await counter.Add(4);
        Assert.Equal(9, await counter.Add(5));
        await cluster.Client.GetGrain<ITickerGrain>("carol").Start("tick", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        var holder = await counter.Silo();
        var victim = cluster.Silos.Single(s => s.SiloAddress.ToString() == holder);
        var survivor = cluster.Silos.Single(s => s != victim);
        var survivorTicks = survivor.SiloHost.Services.GetRequiredService<TickLog>();
        var ticksBefore = survivorTicks.Count("carol", "tick");
        await cluster.StopSiloAsync(victim);

        Assert.Equal(9, await counter.Get());
        Assert.Equal(survivor.SiloAddress.ToString(), await counter.Silo());
        Assert.Equal(11, await counter.Add(2));
        for (var i = 1; i <= 20; i++)
        {
            Assert.Equal(i, await cluster.Client.GetGrain<ICounterGrain>($"other-{i}").Get());
        }

        await survivorTicks.WaitForAsync("carol", "tick", ticksBefore + 1, TimeSpan.FromSeconds(30));
    }
}
