using System.Net.NetworkInformation;

namespace Trellis.Edge;

/// <summary>The device's provider id: the hardware address of its first physical network interface,
/// as gshell names its nodes; "self" style fallbacks are never used because ids must be stable.</summary>
public static class ProviderId
{
    public static string Current()
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.NetworkInterfaceType is not NetworkInterfaceType.Loopback and not NetworkInterfaceType.Tunnel)
            .Select(n => n.GetPhysicalAddress().GetAddressBytes())
            .FirstOrDefault(a => a.Length == 6 && a.Any(b => b != 0));
        return nic is null
            ? Environment.MachineName.ToLowerInvariant()
            : string.Concat(nic.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }
}
