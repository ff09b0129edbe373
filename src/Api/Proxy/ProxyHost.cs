using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Grains.Cluster;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Proxy;

/// <summary>Starts the node proxy once the bus runs: restores stored nodes and runs their health checks; stops them first on shutdown.</summary>
internal sealed partial class ProxyHost(NodeRegistry registry, BusHost busHost, SecurityOptions security, NodesOptions nodes, ILogger<ProxyHost> logger) : IHostedService
{
    private Task? _healthLoop;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await busHost.Started.WaitAsync(cancellationToken);
        if (security.AdminToken is not { Length: > 0 })
        {
            LogNoAdminToken(logger);
        }

        await RestoreAsync(cancellationToken);
        _healthLoop = registry.RunHealthLoopAsync();
        LogStarted(logger, nodes.HealthInterval.TotalSeconds, nodes.AllowedHosts.Length == 0 ? "127.0.0.1 only" : "127.0.0.1, " + string.Join(", ", nodes.AllowedHosts));
    }

    /// <summary>Restores this gateway's nodes, retrying while the cluster cannot answer (a silo that just died is not yet
    /// declared dead, so calls to grains it held fail for a few seconds, and the grain directory cancels a lookup whose
    /// range changes hands under it).</summary>
    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await registry.RestoreAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (attempt < RestoreAttempts && ClusterFaults.CannotAnswerNow(e, cancellationToken))
            {
                LogRestoreRetry(logger, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    private const int RestoreAttempts = 60;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await registry.StopAsync();
        if (_healthLoop is not null)
        {
            await _healthLoop;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "No admin token is configured (Trellis:Security:AdminToken): each node manages only itself with the token it got at registration, and POST /nodes is open to anyone who can reach the HTTP listener")]
    private static partial void LogNoAdminToken(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Restoring this gateway's nodes failed (attempt {Attempt}): {Reason}; trying again")]
    private static partial void LogRestoreRetry(ILogger logger, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node proxy started: health checks every {Seconds} s; node callbacks go to {Hosts}")]
    private static partial void LogStarted(ILogger logger, double seconds, string hosts);
}
