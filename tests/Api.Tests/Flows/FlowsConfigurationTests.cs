using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Hosting;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.Flows.Networks;
using Trellis.Grains.Flows;
using Xunit;

namespace Trellis.Api.Tests.Flows;

/// <summary>How a process composes flows from its configuration.</summary>
public sealed class FlowsConfigurationTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("soon")]
    public void A_bad_participant_timeout_stops_the_process_naming_the_key(string value)
    {
        var e = Assert.Throws<TrellisException>(() => TrellisApp.Build([], "silo", new Dictionary<string, string?>
        {
            ["Trellis:Flows:ParticipantTimeout"] = value,
        }));
        Assert.Contains("Trellis:Flows:ParticipantTimeout", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("30", 30)]
    [InlineData("00:02:00", 120)]
    public async Task The_participant_timeout_is_seconds_or_a_duration(string value, int seconds)
    {
        await using var app = TrellisApp.Build([], "silo", new Dictionary<string, string?> { ["Trellis:Flows:ParticipantTimeout"] = value });
        Assert.Equal(TimeSpan.FromSeconds(seconds), app.Services.GetRequiredService<FlowsOptions>().ParticipantTimeout);
    }

    [Fact]
    public async Task A_silo_on_the_default_transport_runs_flows_on_the_in_process_broker_and_consumes_discovery()
    {
        await using var silo = TrellisApp.Build([], "silo", new Dictionary<string, string?>());
        Assert.IsType<InMemoryFlowBroker>(silo.Services.GetRequiredService<IFlowBroker>());
        Assert.NotNull(silo.Services.GetRequiredService<IFlowNetworks>());
        Assert.NotNull(silo.Services.GetService<FlowDiscoveryService>());

        await using var gateway = TrellisApp.Build([], "gateway", new Dictionary<string, string?>());
        Assert.Null(gateway.Services.GetService<FlowDiscoveryService>());
    }
}
