using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Trellis.Edge.Daemon;
using Trellis.Edge.Local;

namespace Trellis.Edge.Services;

/// <summary>The agent's services as the daemon composes them: the persisted table, the LAN registry (unless
/// <see cref="EdgeOptions.LanPort"/> is 0), discovery and the local API routes.</summary>
public sealed partial class EdgeServices : IAsyncDisposable
{
    private readonly ServiceTable _table;

    private EdgeServices(ServiceTable table, Discovery discovery, LanRegistry? lan)
    {
        _table = table;
        Discovery = discovery;
        Lan = lan;
    }

    public IServiceTable Table => _table;

    public Discovery Discovery { get; }

    /// <summary>The LAN registry; null when the LAN scope is off or its port could not be bound.</summary>
    public LanRegistry? Lan { get; }

    public static EdgeServices Start(EdgeOptions options, string provider, LocalRouter router, IWanDiscovery? wan, ILogger logger,
        DiscoveryOptions? discovery = null, TimeProvider? time = null)
    {
        discovery ??= new DiscoveryOptions();
        var table = new ServiceTable(options.WorkDir, logger);
        LanRegistry? lan = null;
        if (options.LanPort > 0)
        {
            try
            {
                lan = new LanRegistry(table, provider, options.LanPort, logger, discovery.LanWindow);
            }
            catch (SocketException e)
            {
                LogLanOff(logger, options.LanPort, e.Message);
            }
        }

        var found = new Discovery(provider, table, lan, wan, logger, discovery, time);
        if (lan is not null)
        {
            found.AddBuiltin("builtin", "lanregistry", $"udp://0.0.0.0:{lan.Port}");
        }

        ServiceRoutes.Map(router, table, found);
        return new EdgeServices(table, found, lan);
    }

    public async ValueTask DisposeAsync()
    {
        if (Lan is not null)
        {
            await Lan.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "LAN discovery is off: UDP port {Port} cannot be bound ({Reason})")]
    private static partial void LogLanOff(ILogger logger, int port, string reason);
}
