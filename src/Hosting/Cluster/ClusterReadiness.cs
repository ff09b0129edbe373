using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using Trellis.Grains.Cluster;

namespace Trellis.Hosting.Cluster;

/// <summary>Whether this process is part of the cluster: a silo that is active in membership, or a client (a gateway)
/// that has connected and still reaches an active silo.</summary>
/// <remarks>This service starts after Orleans' own hosted service, so its start means the silo is up or the client has
/// connected. A client then asks the cluster for its active silos, at most once a second (readiness is polled by /readyz
/// and by the gRPC health service), so a gateway whose silos are all gone reports not ready rather than connected.</remarks>
public sealed class ClusterReadiness(IServiceProvider services, TimeProvider time) : IHostedService
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);

    private volatile bool _started;
    private Task<bool>? _probe;
    private long _probedAt;

    /// <summary>"active" (silo), "connected" (client), "joining", "unreachable" (client without an active silo), or the silo's
    /// membership status while it is not active ("stopping", "dead", …).</summary>
    public string State { get; private set; } = "joining";

    public async Task<bool> ReadyAsync(CancellationToken cancellationToken)
    {
        if (!_started)
        {
            State = "joining";
            return false;
        }

        if (services.GetService<ISiloStatusOracle>() is { } oracle)
        {
            var active = oracle.CurrentStatus == SiloStatus.Active;
            State = active ? "active" : oracle.CurrentStatus.ToString().ToLowerInvariant();
            return active;
        }

        var reached = await ProbeAsync().WaitAsync(cancellationToken);
        State = reached ? "connected" : "unreachable";
        return reached;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _started = true;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _started = false;
        return Task.CompletedTask;
    }

    private Task<bool> ProbeAsync()
    {
        var now = time.GetTimestamp();
        if (_probe is { } probe && (!probe.IsCompleted || time.GetElapsedTime(Interlocked.Read(ref _probedAt), now) < ProbeInterval))
        {
            return probe;
        }

        Interlocked.Exchange(ref _probedAt, now);
        return _probe = AskAsync();
    }

    private async Task<bool> AskAsync()
    {
        try
        {
            var hosts = await services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(ProbeTimeout);
            return hosts.Count > 0;
        }
        catch (Exception e) when (ClusterFaults.CannotAnswerNow(e))
        {
            return false;
        }
    }
}
