using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Flows.Broker;

namespace Trellis.Hosting.Flows;

/// <summary>Connects the flow broker when the host starts, retrying while the broker is away, and disposes it at stop.</summary>
internal sealed partial class FlowBrokerHost(IFlowBroker broker, TimeProvider time, ILogger<FlowBrokerHost> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await broker.StartAsync(stoppingToken);
                LogStarted(logger, broker.Name);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogStartFailed(logger, broker.Name, e.Message);
            }

            await Task.Delay(delay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await broker.DisposeAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Flow broker {Broker} connected")]
    private static partial void LogStarted(ILogger logger, string broker);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Flow broker {Broker} not reachable yet: {Problem}; retrying")]
    private static partial void LogStartFailed(ILogger logger, string broker, string problem);
}
