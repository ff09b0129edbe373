using System.Net;
using System.Net.Sockets;

namespace Trellis.TestKit;

/// <summary>Loopback ports the kernel just handed out, for silo and gateway endpoints.</summary>
public static class FreePorts
{
    /// <summary>Returns <paramref name="count"/> distinct ports, all held open together so they differ, then released.</summary>
    public static int[] Take(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(static l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
