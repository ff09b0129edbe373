namespace Trellis.Edge.Daemon;

/// <summary>The agent's settings (command-line options of <c>trellis-edge daemon</c>, else TRELLIS_EDGE_* variables).</summary>
public sealed record EdgeOptions
{
    /// <summary>Where the agent keeps its state: jobs, their logs and files, published services, updates.</summary>
    public string WorkDir { get; init; } = Environment.GetEnvironmentVariable("TRELLIS_EDGE_HOME") is { Length: > 0 } home
        ? home
        : Path.Combine(Path.GetTempPath(), "trellis-edge");

    /// <summary>The local API's unix socket (default <c>WorkDir/agent.sock</c>).</summary>
    public string? SocketPath { get; init; }

    public string Socket => SocketPath ?? Path.Combine(WorkDir, "agent.sock");

    /// <summary>The local API's loopback HTTP port; 0 for none.</summary>
    public int HttpPort { get; init; } = 7420;

    /// <summary>The UDP port of LAN discovery among agents on one subnet; 0 turns the LAN scope off.</summary>
    public int LanPort { get; init; } = 7421;

    /// <summary>The gateway to link to (its gRPC address, e.g. http://gw:5081); null: no WAN scope.</summary>
    public Uri? Gateway { get; init; }

    /// <summary>The gateway's HTTP address for downloads (builds); null: derived from <see cref="Gateway"/>.</summary>
    public Uri? GatewayHttp { get; init; }

    /// <summary>The device's token, issued by the cluster's admin.</summary>
    public string? Token { get; init; }

    /// <summary>The provider id; null for the first physical network card's hardware address.</summary>
    public string? Provider { get; init; }

    /// <summary>Whether the agent updates itself from the builds the cluster serves (TRELLIS_EDGE_NOUPDATE=1 turns it off).</summary>
    public bool AutoUpdate { get; init; } = Environment.GetEnvironmentVariable("TRELLIS_EDGE_NOUPDATE") is not "1";

    /// <summary>An activity home (<c>trellis activity init</c>) whose enabled activities the agent runs and connects to the
    /// cluster's flows through its link (<c>--activities</c>, TRELLIS_EDGE_ACTIVITIES); null: none.</summary>
    public string? ActivitiesHome { get; init; } = Environment.GetEnvironmentVariable("TRELLIS_EDGE_ACTIVITIES") is { Length: > 0 } activities ? activities : null;

    /// <summary>Resident workers of the request pool, and queued messages per extra worker.</summary>
    public int ResidentWorkers { get; init; } = 1;

    public int QueuePerWorker { get; init; } = 8;

    public int MaxWorkers { get; init; } = 64;
}
