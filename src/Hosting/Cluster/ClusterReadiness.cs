using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;

namespace Trellis.Hosting.Cluster;

/// <summary>Whether this process is part of the cluster: a silo that is active in membership, or a client that has
/// connected (it starts after Orleans' own hosted service, so reaching its start means the connection is up).</summary>
public sealed class ClusterReadiness(IServiceProvider services) : IHostedService
{
    private volatile bool _started;

    public bool Ready => _started && (services.GetService<ISiloStatusOracle>() is not { } oracle || oracle.CurrentStatus == SiloStatus.Active);

    /// <summary>"active", "connected", "joining" or "stopping".</summary>
    public string State => !_started ? "joining"
        : services.GetService<ISiloStatusOracle>() is { } oracle ? oracle.CurrentStatus == SiloStatus.Active ? "active" : oracle.CurrentStatus.ToString().ToLowerInvariant()
        : "connected";

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
}
