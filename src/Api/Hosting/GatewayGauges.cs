using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Trellis.Api.Edge.Link;
using Trellis.Api.Proxy;
using Trellis.Core.Diagnostics;
using Trellis.Core.Nodes;
using Trellis.Flows.Networks;

namespace Trellis.Api.Hosting;

/// <summary>The observable gauges of a Trellis process on the <c>Trellis</c> meter: its nodes by health state
/// (<c>trellis.nodes</c>), the device links it holds (<c>trellis.edge.devices</c>) and the cluster's flow participants
/// (<c>trellis.flow.participants</c>).</summary>
/// <remarks>The instruments are static (one meter per process), and each running host adds itself while it runs: a
/// process hosting several (tests do) reports the sum of their nodes and devices. Nodes and links are read from memory;
/// participants live in grains, which a gauge callback must never wait for, so the callback reports the count last
/// read and starts a new read in the background when that one is older than <see cref="ParticipantsMaxAge"/> — nothing
/// is read while nobody collects.</remarks>
internal sealed class GatewayGauges(IServiceProvider services) : IHostedService
{
    /// <summary>How old the participants' count may be before a collection starts a new read.</summary>
    internal static readonly TimeSpan ParticipantsMaxAge = TimeSpan.FromSeconds(1);

    private static readonly ConcurrentDictionary<GatewayGauges, byte> Running = new();
    private static readonly string[] NodeStates = [NodeStatusNames.Ok, NodeStatusNames.Unavailable, NodeStatusNames.Dirty];

    private static readonly ObservableGauge<int> Nodes = TrellisTelemetry.Meter.CreateObservableGauge(
        "trellis.nodes", ObserveNodes, "{node}", "Nodes this gateway serves, by health state (ok, unavailable, dirty)");

    private static readonly ObservableGauge<int> Devices = TrellisTelemetry.Meter.CreateObservableGauge(
        "trellis.edge.devices", ObserveDevices, "{device}", "Edge devices whose link this gateway holds");

    private static readonly ObservableGauge<int> Participants = TrellisTelemetry.Meter.CreateObservableGauge(
        "trellis.flow.participants", ObserveParticipants, "{participant}", "Flow participants of the cluster, by state (online, expired)");

    private NodeRegistry? _registry;
    private EdgeLinks? _links;
    private IFlowNetworks? _networks;
    private volatile ParticipantCounts? _participants;
    private long _participantsRead;
    private int _reading;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registry = services.GetService<NodeRegistry>();
        _links = services.GetService<EdgeLinks>();
        _networks = services.GetService<IFlowNetworks>();

        // Touch the instruments, so they exist (and a listener finds them) from the start.
        _ = (Nodes, Devices, Participants);
        Running.TryAdd(this, 0);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Running.TryRemove(this, out _);
        return Task.CompletedTask;
    }

    private static IEnumerable<Measurement<int>> ObserveNodes()
    {
        Span<int> counts = stackalloc int[NodeStates.Length];
        foreach (var gauges in Running.Keys)
        {
            gauges._registry?.CountByStatus(counts);
        }

        var measurements = new Measurement<int>[NodeStates.Length];
        for (var i = 0; i < measurements.Length; i++)
        {
            measurements[i] = new Measurement<int>(counts[i], new KeyValuePair<string, object?>(TrellisTelemetry.Tags.State, NodeStates[i]));
        }

        return measurements;
    }

    private static int ObserveDevices()
    {
        var count = 0;
        foreach (var gauges in Running.Keys)
        {
            count += gauges._links?.LinkCount ?? 0;
        }

        return count;
    }

    private static IEnumerable<Measurement<int>> ObserveParticipants()
    {
        // Participants are the cluster's, the same seen from every host of it: one host's count, not a sum.
        foreach (var gauges in Running.Keys)
        {
            if (gauges._networks is null)
            {
                continue;
            }

            gauges.RefreshParticipants();
            if (gauges._participants is { } counts)
            {
                return
                [
                    new Measurement<int>(counts.Online, new KeyValuePair<string, object?>(TrellisTelemetry.Tags.State, "online")),
                    new Measurement<int>(counts.Expired, new KeyValuePair<string, object?>(TrellisTelemetry.Tags.State, "expired")),
                ];
            }
        }

        return [];
    }

    /// <summary>Starts a background read of the participants unless one runs or the last is recent.</summary>
    private void RefreshParticipants()
    {
        var now = Environment.TickCount64;
        if (now - Interlocked.Read(ref _participantsRead) < (long)ParticipantsMaxAge.TotalMilliseconds || Interlocked.Exchange(ref _reading, 1) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var participants = await _networks!.ListParticipantsAsync(timeout.Token);
                var online = participants.Count(static p => p.Status == ParticipantStatus.Online);
                _participants = new ParticipantCounts(online, participants.Count - online);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The cluster cannot be reached now: the gauge keeps the last count, and the next collection tries again.
            }
            finally
            {
                Interlocked.Exchange(ref _participantsRead, Environment.TickCount64);
                Volatile.Write(ref _reading, 0);
            }
        });
    }

    private sealed record ParticipantCounts(int Online, int Expired);
}
