using Orleans.Concurrency;

namespace Trellis.Grains.Devices;

/// <summary>An edge device, keyed by its provider id: its token (kept as a hash) and grant, whether its agent's link is
/// up and where, what the agent last said about itself, its WAN services and its jobs.</summary>
/// <remarks>The gateway holding a device's link reports to this grain; the admin API reads it. A device whose gateway
/// stopped reporting (no heartbeat for <see cref="DeviceRecord.OfflineAfter"/>) reads as offline.</remarks>
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>Issues a new token (replacing any earlier one) with the topic globs the device may call; returns the token,
    /// which the grain does not keep (only its SHA-256).</summary>
    Task<string> IssueToken(string[] grant);

    /// <summary>Revokes the token; false when none was issued. The gateway holding the link closes it.</summary>
    Task<bool> RevokeToken();

    /// <summary>Checks a presented token; returns the grant when it is this device's current token, else null.</summary>
    [AlwaysInterleave]
    Task<string[]?> Authenticate(string token);

    /// <summary>The link came up on <paramref name="gateway"/>; <paramref name="linkId"/> tells this link from a later one.</summary>
    Task Connected(string linkId, string gateway, DeviceHello hello, TimeSpan heartbeatInterval);

    /// <summary>The link is alive (a heartbeat or any message); ignored for a link that is no longer current.</summary>
    Task Seen(string linkId);

    /// <summary>The device's WAN services changed (the complete set).</summary>
    Task SetServices(string linkId, DeviceServiceName[] services);

    /// <summary>The device's job table changed (the complete table).</summary>
    Task SetJobs(string linkId, DeviceJob[] jobs);

    /// <summary>The link ended; ignored for a link that is no longer current.</summary>
    Task Disconnected(string linkId);

    /// <summary>The device, or null when it was never seen and has no token.</summary>
    [AlwaysInterleave]
    Task<DeviceRecord?> Get();
}

/// <summary>The list of known devices (one grain, key <see cref="Key"/>), for listing and WAN discovery.</summary>
public interface IDeviceDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "devices";

    Task Add(string provider);

    [AlwaysInterleave]
    Task<string[]> List();
}

/// <summary>What an agent says about itself when its link comes up.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceHello(
    [property: Id(0)] string Version,
    [property: Id(1)] string Arch,
    [property: Id(2)] string Hostname,
    [property: Id(3)] DeviceServiceName[] Services,
    [property: Id(4)] DeviceJob[] Jobs,
    [property: Id(5)] bool AutoUpdate);

/// <summary>{publisher, service} of a device's service.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceServiceName([property: Id(0)] string Publisher, [property: Id(1)] string Service);

/// <summary>A job as the agent reported it.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceJob(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] string Group,
    [property: Id(3)] DateTimeOffset? StartAt,
    [property: Id(4)] string Status,
    [property: Id(5)] int Restarts);

/// <summary>A device as the cluster knows it.</summary>
/// <param name="Online">The link is up and reported within <see cref="OfflineAfter"/>.</param>
[GenerateSerializer, Immutable]
public sealed record DeviceRecord(
    [property: Id(0)] string Provider,
    [property: Id(1)] bool Online,
    [property: Id(2)] DateTimeOffset? LastSeen,
    [property: Id(3)] DateTimeOffset? ConnectedAt,
    [property: Id(4)] string? Gateway,
    [property: Id(5)] DeviceHello? Hello,
    [property: Id(6)] DeviceServiceName[] Services,
    [property: Id(7)] DeviceJob[] Jobs,
    [property: Id(8)] string[] Grant,
    [property: Id(9)] bool HasToken)
{
    /// <summary>How many heartbeat intervals without a word make a device offline.</summary>
    public const int MissedHeartbeats = 3;

    public static TimeSpan OfflineAfter(TimeSpan heartbeatInterval) => heartbeatInterval * MissedHeartbeats;
}
