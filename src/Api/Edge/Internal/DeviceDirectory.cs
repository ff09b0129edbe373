using Trellis.Core.Topics;
using Trellis.Grains.Devices;

namespace Trellis.Api.Edge.Internal;

/// <summary>The cluster's devices as the admin API and the links' WAN discovery read them.</summary>
internal static class DeviceDirectory
{
    /// <summary>Every known device, by provider id.</summary>
    public static async Task<DeviceRecord[]> ListAsync(IGrainFactory grains)
    {
        var providers = await grains.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key).List();
        var records = await Task.WhenAll(providers.Select(p => grains.GetGrain<IDeviceGrain>(p).Get()));
        return [.. records.OfType<DeviceRecord>().OrderBy(static r => r.Provider, StringComparer.Ordinal)];
    }

    /// <summary>The WAN scope: the services of online devices whose publisher and service match the patterns ('*' any run
    /// of characters).</summary>
    public static async Task<EdgeServiceEntry[]> DiscoverAsync(IGrainFactory grains, string publisherPattern, string servicePattern)
    {
        var found = new List<EdgeServiceEntry>();
        foreach (var device in await ListAsync(grains))
        {
            if (!device.Online)
            {
                continue;
            }

            foreach (var s in device.Services)
            {
                if (Glob.IsMatch(publisherPattern, s.Publisher) && Glob.IsMatch(servicePattern, s.Service))
                {
                    found.Add(new EdgeServiceEntry(s.Publisher, s.Service, device.Provider));
                }
            }
        }

        return [.. found];
    }
}
