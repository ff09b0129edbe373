using System.Text.Json;
using Trellis.TestKit;
using Trellis.Core.Messaging;
using Trellis.Grains.Apps;
using Trellis.Grains.Tests.Support;
using Trellis.Storage;
using Xunit;

namespace Trellis.Grains.Tests.Apps;

/// <summary>A watcher whose app's silo is killed mid-stream: the app comes back on the other silo from its stored state,
/// and the watcher either goes on seeing every count in order or is kicked; it never silently skips one.</summary>
public sealed class WatchAcrossSiloDeathTests(ITestOutputHelper output) : IDisposable
{
    private const int Pokes = 40;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Every_count_arrives_in_order_or_the_watch_ends_with_a_kick()
    {
        var path = _folder.File("grains.db");
        await using var cluster = await AppCluster.StartAsync(
            silo =>
            {
                silo.AddTrellisSqliteGrainStorageAsDefault(path);
                silo.AddTrellisSqliteGrainStorage("PubSubStore", path);
            },
            TestAgents.Create());
        cluster.ExpectedErrors = static _ => true;
        var apps = cluster.Apps;
        var app = $"mid-{Guid.NewGuid():N}"[..20];
        Assert.Equal(Codes.Ok, (await apps.CreateAsync(app, "counter")).Code);

        // Off the first silo, which the test cluster's client and membership start from.
        var first = cluster.Cluster.Silos[0].SiloAddress;
        var killed = false;
        var second = cluster.Cluster.Silos[1].SiloAddress;
        if (first.Equals(cluster.SiloOf(app)))
        {
            await cluster.Cluster.MigrateAsync(cluster.Client.GetGrain<IAppGrain>(app), second).Within($"app {app} to move to silo {second}");
        }

        await using var watch = await apps.WatchAsync(app, "/count");
        var counts = new List<int>();
        string? kick = null;
        var reader = Task.Run(async () =>
        {
            await foreach (var e in watch.Events.ReadAllAsync())
            {
                if (e.Kind == "fact")
                {
                    counts.Add(e.Data!.Value.GetProperty("count").GetInt32());
                    if (counts[^1] == Pokes)
                    {
                        return;
                    }
                }
                else if (e.Kind == "kick")
                {
                    kick = e.Data?.GetProperty("reason").GetString() ?? "kicked";
                    return;
                }
            }
        });

        for (var i = 1; i <= Pokes; i++)
        {
            if (i == Pokes / 2 && cluster.SiloOf(app) is { } holder && !holder.Equals(first))
            {
                await cluster.Cluster.KillSiloAsync(cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(holder))).Within($"silo {holder} holding {app} to be killed");
                killed = true;
            }

            await PokeUntilAckedAsync(apps, app, $"{app}-poke-{i}");
        }

        await reader.Within($"the watch on {app} to reach count {Pokes} or end with a kick (have {string.Join(",", counts)})", TimeSpan.FromSeconds(60));
        output.WriteLine($"killed the app's silo: {killed}; the watch saw {counts.Count} counts up to {counts[^1]}; kick: {kick ?? "none"}");
        Assert.True(killed, $"app {app} was not on the second silo at the kill");
        Assert.Equal(0, counts[0]);
        for (var i = 1; i < counts.Count; i++)
        {
            Assert.True(counts[i] == counts[i - 1] + 1, $"the watch skipped from count {counts[i - 1]} to {counts[i]} without a kick ({string.Join(",", counts)})");
        }

        Assert.True(kick is null ? counts[^1] == Pokes : kick.Contains("missed events", StringComparison.Ordinal), $"the watch ended at {counts[^1]} with '{kick}'");
        Assert.Equal(Pokes, (await apps.PeekAsync(app, "/count")).Data.ToJsonElement().GetProperty("count").GetInt32());
    }

    /// <summary>Retries a poke by its id until the app acknowledges it: while its silo is being declared dead, a call may
    /// time out or find the cluster unavailable, and its retry is absorbed if the first one did count.</summary>
    private static async Task PokeUntilAckedAsync(AppClient apps, string app, string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var reply = await apps.PokeAsync(app, "add", JsonSerializer.SerializeToElement(new { by = 1 }), id, TimeSpan.FromSeconds(5));
            if (reply.Code == Codes.Ok)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"poke {id} to {app} was never acknowledged (last answer {reply.Code} {reply.Data})");
            await Task.Delay(200);
        }
    }
}
