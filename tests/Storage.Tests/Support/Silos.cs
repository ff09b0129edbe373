using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Trellis.TestKit;
using Trellis.Storage.Tests.Grains;

namespace Trellis.Storage.Tests.Support;

/// <summary>Real silo hosts built the way a Trellis process builds them, on loopback ports of their own.</summary>
public static class Silos
{
    /// <summary>Reminder timings a test can wait for: 1 s periods are allowed, and the table is first read within 2 s of start.</summary>
    public static void FastReminders(ReminderOptions options)
    {
        options.MinimumReminderPeriod = TimeSpan.FromSeconds(1);
        options.RefreshReminderListPeriod = TimeSpan.FromSeconds(2);
    }

    /// <summary>Builds and starts a silo; <paramref name="configure"/> picks clustering, storage and reminders.</summary>
    public static async Task<IHost> StartAsync(ErrorLog errors, Action<ISiloBuilder> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = Environments.Development });
        builder.Logging.AddProvider(errors);
        builder.Services.AddSingleton<TickLog>();
        builder.UseOrleans(silo =>
        {
            silo.Configure<ReminderOptions>(FastReminders);
            configure(silo);
        });
        var host = builder.Build();
        try
        {
            using var starting = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await host.StartAsync(starting.Token);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>Endpoints on two fresh loopback ports, advertised as 127.0.0.1.</summary>
    public static void OnFreePorts(this ISiloBuilder silo)
    {
        var ports = FreePorts.Take(2);
        silo.Configure<EndpointOptions>(options =>
        {
            options.AdvertisedIPAddress = IPAddress.Loopback;
            options.SiloPort = ports[0];
            options.GatewayPort = ports[1];
        });
    }

    /// <summary>Stops a silo gracefully (its grains deactivate, its providers close), bounded in time.</summary>
    public static async Task StopAsync(IHost host)
    {
        using var stopping = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await host.StopAsync(stopping.Token);
        host.Dispose();
    }

    /// <summary>Waits until this silo's view of the cluster has exactly <paramref name="count"/> active silos.</summary>
    public static async Task WaitForActiveSilosAsync(this IHost host, int count, string phase)
    {
        var membership = host.Services.GetRequiredService<IClusterMembershipService>();
        var seen = Active(membership.CurrentSnapshot);
        if (seen == count)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(timeout.Token))
            {
                seen = Active(snapshot);
                if (seen == count)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }

        throw new TimeoutException($"{phase}: silo {host.Address()} expected {count} active silos within 60 s, saw {seen}");

        static int Active(ClusterMembershipSnapshot snapshot) => snapshot.Members.Values.Count(static m => m.Status == SiloStatus.Active);
    }

    public static IGrainFactory Grains(this IHost host) => host.Services.GetRequiredService<IGrainFactory>();

    public static TickLog Ticks(this IHost host) => host.Services.GetRequiredService<TickLog>();

    public static string Address(this IHost host) => host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString();
}
