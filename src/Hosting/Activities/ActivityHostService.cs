using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Flows.Activities;
using Trellis.Flows.Broker;
using Trellis.Grains.Activities;

namespace Trellis.Hosting.Activities;

/// <summary><c>Trellis:Activities</c>: a silo with <see cref="Home"/> set is a Trellis host for that home's enabled activities.</summary>
public sealed class ActivitiesOptions
{
    public const string Section = "Trellis:Activities";

    /// <summary>The home (activities/ and config.json); unset: this silo runs no activities.</summary>
    public string? Home { get; set; }

    /// <summary>This host's id in participant ids and states (default: machine name + random).</summary>
    public string? HostId { get; set; }

    public int Prefetch { get; set; } = 64;

    /// <summary>How often the home is read again to follow enable/disable.</summary>
    public TimeSpan RescanInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often each activity's state is reported again (see <see cref="ActivityHostOptions.ReportInterval"/>).</summary>
    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a stopping activity gets to answer what it holds (see <see cref="ActivityHostOptions.StopTimeout"/>).</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Runs a home's enabled activities inside the silo (on the cluster's flow broker), following enable and
/// disable, and reports their states to their grains.</summary>
public sealed partial class ActivityHostService(
    ActivitiesOptions options,
    IServiceProvider services,
    IGrainFactory grains,
    ILoggerFactory loggers,
    TimeProvider time) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<ActivityHostService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var broker = services.GetService<IFlowBroker>();
        if (broker is null)
        {
            LogNoBroker(_logger, options.Home!);
            return;
        }

        var store = new ActivityStore(options.Home!);
        store.Initialize();
        var hostOptions = new ActivityHostOptions { Prefetch = options.Prefetch, ReportInterval = options.ReportInterval, StopTimeout = options.StopTimeout };
        if (options.HostId is { Length: > 0 } id)
        {
            hostOptions.HostId = id;
        }

        var installed = new Dictionary<Guid, InstalledActivity>();
        var sink = new GrainActivityStateSink(grains, activityId =>
        {
            lock (installed)
            {
                return installed.GetValueOrDefault(activityId);
            }
        });
        await using var host = new ActivityHost(broker, hostOptions, sink, loggers, time);
        LogHosting(_logger, hostOptions.HostId, store.Home);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var problems = new List<string>();
                var all = store.List(problems);
                lock (installed)
                {
                    installed.Clear();
                    foreach (var a in all)
                    {
                        installed[a.Manifest.Id] = a;
                    }
                }

                await host.SyncAsync(all.Where(static a => a.Enabled), stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogScanFailed(_logger, e, store.Home);
            }

            try
            {
                await Task.Delay(options.RescanInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Hosting activities as {HostId} from {Home}")]
    private static partial void LogHosting(ILogger logger, string hostId, string home);

    [LoggerMessage(Level = LogLevel.Error, Message = "Trellis:Activities:Home is {Home} but this process has no flow broker (AddTrellisFlows): no activities run")]
    private static partial void LogNoBroker(ILogger logger, string home);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the activities of {Home} failed")]
    private static partial void LogScanFailed(ILogger logger, Exception exception, string home);
}

public static class ActivitiesRegistration
{
    /// <summary>Adds the activity host when <c>Trellis:Activities:Home</c> is set; nothing otherwise.</summary>
    public static IServiceCollection AddTrellisActivities(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new ActivitiesOptions();
        configuration.GetSection(ActivitiesOptions.Section).Bind(options);
        if (string.IsNullOrWhiteSpace(options.Home))
        {
            return services;
        }

        if (options.Prefetch < 1)
        {
            throw new Core.Errors.TrellisException(Core.Errors.ErrorKind.InvalidArgument, $"{ActivitiesOptions.Section}:Prefetch must be 1 or more, not {options.Prefetch}");
        }

        if (options.ReportInterval < TimeSpan.Zero || options.StopTimeout < TimeSpan.Zero)
        {
            throw new Core.Errors.TrellisException(Core.Errors.ErrorKind.InvalidArgument, $"{ActivitiesOptions.Section}:ReportInterval and :StopTimeout must not be negative");
        }

        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<ActivityHostService>();
        return services;
    }
}
