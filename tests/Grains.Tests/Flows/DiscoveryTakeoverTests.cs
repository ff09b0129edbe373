using Microsoft.Extensions.DependencyInjection;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Grains.Tests.Flows;

/// <summary>The silo that holds <c>fbp</c> goes away: another takes the queue over and discovery goes on.</summary>
public sealed class DiscoveryTakeoverTests : IAsyncLifetime
{
    private readonly FlowCluster _flows = new();

    public ValueTask InitializeAsync() => _flows.InitializeAsync();

    public ValueTask DisposeAsync() => _flows.DisposeAsync();

    [Fact]
    public async Task When_the_silo_holding_fbp_stops_another_takes_it_over_and_participants_are_still_discovered()
    {
        var holder = await Waits.UntilAsync(
            () => Task.FromResult(_flows.Cluster.GetActiveSilos().FirstOrDefault(s => s.SiloHost.Services.GetRequiredService<FlowDiscoveryService>().Holding)),
            s => s is not null, "a silo to hold fbp");

        await _flows.Cluster.StopSiloAsync(holder!).Within("the holding silo to stop");

        await Waits.UntilAsync(() => Task.FromResult(_flows.Consumers.Count(c => c.Holding)), n => n == 1, "the remaining silo to take fbp over");
        await using var p = await TestParticipant.StartAsync(_flows.Broker, $"late{Guid.NewGuid():N}"[..12]);
        await Waits.UntilAsync(
            () => _flows.Networks.ListParticipantsAsync(CancellationToken.None),
            list => list.Any(x => x.Definition.Id == p.Id && x.Status == ParticipantStatus.Online),
            $"participant {p.Id} to be discovered by the silo that took over");
    }
}
