using System.Text.Json;
using Trellis.TestKit;
using Trellis.Core.Messaging;
using Trellis.Grains.Tests.Support;
using Trellis.Storage;
using Xunit;

namespace Trellis.Grains.Tests.Apps;

/// <summary>An app's outbox is stored with the step that filled it, so effects outlive the silo that decided them
/// (SQLite: the storage must outlive the silo too).</summary>
public sealed class OutboxDurabilityTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Children_a_parent_decided_on_are_created_even_when_its_silo_stops_right_after_the_poke()
    {
        var path = _folder.File("grains.db");
        await using var cluster = await AppCluster.StartAsync(silo => silo.AddTrellisSqliteGrainStorageAsDefault(path), TestAgents.Create());
        cluster.ExpectedErrors = static _ => true;
        var apps = cluster.Apps;
        var parent = $"brood-{Guid.NewGuid():N}"[..20];
        await apps.CreateAsync(parent, "brood");
        const int Children = 30;

        Assert.Equal(Codes.Ok, (await apps.PokeAsync(parent, "brood", JsonSerializer.SerializeToElement(new { count = Children }))).Code);
        var holder = cluster.SiloOf(parent) ?? throw new InvalidOperationException($"{parent} has no activation right after its poke");
        await cluster.Cluster.StopSiloAsync(cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(holder))).Within($"silo {holder} holding {parent} to stop");

        // Usually only some of the children exist by now (the outbox delivers one at a time); the rest wait in the stored outbox.
        var existing = 0;
        for (var i = 0; i < Children; i++)
        {
            existing += (await apps.PeekAsync($"{parent}/kid{i}", "/count")).Code == Codes.Ok ? 1 : 0;
        }

        // Any call activates the parent on the silo left; its activation delivers what the outbox still holds.
        var info = (await apps.InfoAsync(parent)).Data.ToJsonElement();
        Assert.Equal(Children, info.GetProperty("children").GetArrayLength());
        Assert.NotEqual(holder, cluster.SiloOf(parent));
        for (var i = 0; i < Children; i++)
        {
            var kid = $"{parent}/kid{i}";
            await Waits.UntilAsync(() => apps.PeekAsync(kid, "/count"), r => r.Code == Codes.Ok, $"{kid} to be created after silo {holder} stopped with {existing} of {Children} children created (expected 200 to a peek)");
        }

        await Waits.UntilAsync(async () => (await cluster.StoredAsync(parent)).State?.Outbox.Count ?? -1, n => n == 0, $"the stored outbox of {parent} to be empty");
    }
}
