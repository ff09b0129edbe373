namespace Trellis.Edge.Services;

/// <summary>Where a service can be found, innermost first: discovery tries them in this order.</summary>
[Flags]
public enum Scope
{
    None = 0,

    /// <summary>Inside the agent itself (its builtin services).</summary>
    Process = 1,

    /// <summary>Programs on this device, through the agent's local API (unix socket, loopback HTTP).</summary>
    OS = 2,

    /// <summary>Agents on the same subnet, through UDP broadcast.</summary>
    Lan = 4,

    /// <summary>The cluster, through the agent's link.</summary>
    Wan = 8,

    All = Process | OS | Lan | Wan,
}

/// <summary>A service a program on this device published through the agent.</summary>
/// <param name="Url">Where the program serves it: an <c>http://</c> URL on the device. A request reaches it as
/// <c>POST Url</c> with the JSON data as body; the JSON answer (any 2xx) is the reply, another status an error.</param>
/// <param name="Scopes">Where it is visible; <see cref="Scope.Wan"/> makes it a cluster service through the link.</param>
public sealed record LocalService(string Publisher, string Service, string Url, Scope Scopes);

/// <summary>A provider of a service that discovery found.</summary>
/// <param name="Address">How to reach it: an <c>http://</c> URL for <see cref="Scope.OS"/> and <see cref="Scope.Lan"/>,
/// the cluster topic for <see cref="Scope.Wan"/> (call it through the agent: <c>POST /v1/call/{topic}</c>).</param>
public sealed record FoundService(string Publisher, string Service, string Provider, Scope Scope, string Address);

/// <summary>The services published on this device (what the link announces to the cluster and serves).</summary>
public interface IServiceTable
{
    /// <summary>Everything published, in publication order.</summary>
    IReadOnlyList<LocalService> Published { get; }

    /// <summary>The service with exactly these names, or null.</summary>
    LocalService? Find(string publisher, string service);

    /// <summary>Raised after a publish or an unpublish.</summary>
    event Action? Changed;
}

/// <summary>The WAN scope of discovery: the cluster's view of services on online devices (the link implements it).</summary>
public interface IWanDiscovery
{
    /// <summary>Providers in the cluster matching the (wildcard) names; empty when the link is down.</summary>
    Task<IReadOnlyList<FoundService>> DiscoverAsync(string publisher, string service, CancellationToken cancellationToken);
}
