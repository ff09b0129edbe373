using System.Security.Cryptography;
using System.Text;

namespace Trellis.Grains.Devices;

// A minimal device grain so the link can be tested end to end; the devices' own implementation replaces this file.

/// <summary>A device: its token hash and grant, and its current link.</summary>
internal sealed class DeviceGrain([PersistentState("device")] IPersistentState<DeviceState> state, TimeProvider time) : Grain, IDeviceGrain
{
    private string? _linkId;
    private string? _gateway;
    private DateTimeOffset? _connectedAt;
    private DateTimeOffset? _lastSeen;
    private TimeSpan _interval = TimeSpan.FromSeconds(15);
    private DeviceHello? _hello;
    private DeviceServiceName[] _services = [];
    private DeviceJob[] _jobs = [];

    public async Task<string> IssueToken(string[] grant)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        state.State.TokenHash = Hash(token);
        state.State.Grant = grant;
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key).Add(this.GetPrimaryKeyString());
        return token;
    }

    public async Task<bool> RevokeToken()
    {
        if (state.State.TokenHash is null)
        {
            return false;
        }

        state.State.TokenHash = null;
        state.State.Grant = [];
        await state.WriteStateAsync();
        return true;
    }

    public Task<string[]?> Authenticate(string token) =>
        Task.FromResult(state.State.TokenHash is { } hash && CryptographicOperations.FixedTimeEquals(Convert.FromHexString(hash), Convert.FromHexString(Hash(token)))
            ? state.State.Grant
            : null);

    public Task Connected(string linkId, string gateway, DeviceHello hello, TimeSpan heartbeatInterval)
    {
        _linkId = linkId;
        _gateway = gateway;
        _hello = hello;
        _services = hello.Services;
        _jobs = hello.Jobs;
        _interval = heartbeatInterval;
        _connectedAt = _lastSeen = time.GetUtcNow();
        return Task.CompletedTask;
    }

    public Task Seen(string linkId)
    {
        if (linkId == _linkId)
        {
            _lastSeen = time.GetUtcNow();
        }

        return Task.CompletedTask;
    }

    public Task SetServices(string linkId, DeviceServiceName[] services)
    {
        if (linkId == _linkId)
        {
            _services = services;
            _lastSeen = time.GetUtcNow();
        }

        return Task.CompletedTask;
    }

    public Task SetJobs(string linkId, DeviceJob[] jobs)
    {
        if (linkId == _linkId)
        {
            _jobs = jobs;
            _lastSeen = time.GetUtcNow();
        }

        return Task.CompletedTask;
    }

    public Task Disconnected(string linkId)
    {
        if (linkId == _linkId)
        {
            _linkId = null;
        }

        return Task.CompletedTask;
    }

    public Task<DeviceRecord?> Get()
    {
        var online = _linkId is not null && _lastSeen is { } seen && time.GetUtcNow() - seen <= DeviceRecord.OfflineAfter(_interval);
        return Task.FromResult<DeviceRecord?>(_hello is null && state.State.TokenHash is null
            ? null
            : new DeviceRecord(this.GetPrimaryKeyString(), online, _lastSeen, _connectedAt, _gateway, _hello, online ? _services : [], _jobs, state.State.Grant, state.State.TokenHash is not null));
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}

/// <summary>The known devices.</summary>
internal sealed class DeviceDirectoryGrain([PersistentState("devices")] IPersistentState<DeviceDirectoryState> state) : Grain, IDeviceDirectoryGrain
{
    public async Task Add(string provider)
    {
        if (!state.State.Providers.Contains(provider))
        {
            state.State.Providers.Add(provider);
            await state.WriteStateAsync();
        }
    }

    public Task<string[]> List() => Task.FromResult(state.State.Providers.ToArray());
}

/// <summary>What a device grain stores.</summary>
[GenerateSerializer]
public sealed class DeviceState
{
    [Id(0)]
    public string? TokenHash { get; set; }

    [Id(1)]
    public string[] Grant { get; set; } = [];
}

/// <summary>What the device directory stores.</summary>
[GenerateSerializer]
public sealed class DeviceDirectoryState
{
    [Id(0)]
    public List<string> Providers { get; set; } = [];
}
