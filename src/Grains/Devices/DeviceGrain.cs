using System.Security.Cryptography;
using System.Text;

namespace Trellis.Grains.Devices;

[GenerateSerializer]
internal sealed class DeviceGrainState
{
    /// <summary>SHA-256 of the current token; null when none is issued.</summary>
    [Id(0)] public byte[]? TokenHash { get; set; }

    [Id(1)] public string[] Grant { get; set; } = [];

    [Id(2)] public DeviceHello? Hello { get; set; }

    [Id(3)] public DeviceServiceName[] Services { get; set; } = [];

    [Id(4)] public DeviceJob[] Jobs { get; set; } = [];

    /// <summary>The current link; null when the device is not connected.</summary>
    [Id(5)] public string? LinkId { get; set; }

    [Id(6)] public string? Gateway { get; set; }

    [Id(7)] public DateTimeOffset? ConnectedAt { get; set; }

    /// <summary>The last-seen time as last written (see <see cref="DeviceGrain"/> for how often).</summary>
    [Id(8)] public DateTimeOffset? LastSeen { get; set; }

    [Id(9)] public TimeSpan HeartbeatInterval { get; set; }
}

/// <summary>An edge device's grain. A heartbeat (<see cref="Seen"/>) only moves the last-seen time in memory; it is written
/// with the next change, or by a heartbeat at least <see cref="LastSeenWriteInterval"/> after the last write, so a
/// reactivated grain's last-seen is at most that old (a link whose gateway died still goes offline after its missed
/// heartbeats, counted from the written time).</summary>
internal sealed class DeviceGrain(
    [PersistentState("device")] IPersistentState<DeviceGrainState> state,
    TimeProvider? time = null) : Grain, IDeviceGrain
{
    /// <summary>A heartbeat writes the last-seen time when the written one is at least this old.</summary>
    public static readonly TimeSpan LastSeenWriteInterval = TimeSpan.FromMinutes(1);

    public const string TokenPrefix = "tdv_";

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private DateTimeOffset? _lastSeen;

    private DeviceGrainState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _lastSeen = S.LastSeen;
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_lastSeen != S.LastSeen && state.RecordExists)
        {
            try
            {
                await WriteAsync();
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Shutting down in a hurry: the written last-seen is at most a minute old.
            }
        }
    }

    public async Task<string> IssueToken(string[] grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        CheckKey();
        var token = TokenPrefix + System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        S.TokenHash = Hash(token);
        S.Grant = [.. grant];
        await WriteAsync();
        await Directory.Add(this.GetPrimaryKeyString());
        return token;
    }

    public async Task<bool> RevokeToken()
    {
        if (S.TokenHash is null)
        {
            return false;
        }

        S.TokenHash = null;
        await WriteAsync();
        return true;
    }

    public Task<string[]?> Authenticate(string token)
    {
        var expected = S.TokenHash;
        if (expected is null || string.IsNullOrEmpty(token))
        {
            return Task.FromResult<string[]?>(null);
        }

        return Task.FromResult(CryptographicOperations.FixedTimeEquals(Hash(token), expected) ? S.Grant : null);
    }

    public async Task Connected(string linkId, string gateway, DeviceHello hello, TimeSpan heartbeatInterval)
    {
        ArgumentException.ThrowIfNullOrEmpty(linkId);
        ArgumentNullException.ThrowIfNull(hello);
        CheckKey();
        if (heartbeatInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(heartbeatInterval), heartbeatInterval, "the heartbeat interval must be positive");
        }

        var now = _time.GetUtcNow();
        S.LinkId = linkId;
        S.Gateway = gateway;
        S.Hello = hello;
        S.Services = hello.Services ?? [];
        S.Jobs = hello.Jobs ?? [];
        S.ConnectedAt = now;
        S.HeartbeatInterval = heartbeatInterval;
        _lastSeen = now;
        await WriteAsync();
        await Directory.Add(this.GetPrimaryKeyString());
    }

    public async Task Seen(string linkId)
    {
        if (linkId != S.LinkId)
        {
            return;
        }

        _lastSeen = _time.GetUtcNow();
        if (S.LastSeen is not { } written || _lastSeen.Value - written >= LastSeenWriteInterval)
        {
            await WriteAsync();
        }
    }

    public async Task SetServices(string linkId, DeviceServiceName[] services)
    {
        if (linkId != S.LinkId)
        {
            return;
        }

        _lastSeen = _time.GetUtcNow();
        S.Services = services ?? [];
        await WriteAsync();
    }

    public async Task SetJobs(string linkId, DeviceJob[] jobs)
    {
        if (linkId != S.LinkId)
        {
            return;
        }

        _lastSeen = _time.GetUtcNow();
        S.Jobs = jobs ?? [];
        await WriteAsync();
    }

    public async Task Disconnected(string linkId)
    {
        if (linkId != S.LinkId)
        {
            return;
        }

        _lastSeen = _time.GetUtcNow();
        S.LinkId = null;
        S.Gateway = null;
        await WriteAsync();
    }

    public Task<DeviceRecord?> Get()
    {
        if (S.TokenHash is null && S.Hello is null)
        {
            return Task.FromResult<DeviceRecord?>(null);
        }

        var online = S.LinkId is not null
            && _lastSeen is { } seen
            && _time.GetUtcNow() - seen <= DeviceRecord.OfflineAfter(S.HeartbeatInterval);
        return Task.FromResult<DeviceRecord?>(new DeviceRecord(
            this.GetPrimaryKeyString(), online, _lastSeen, S.ConnectedAt, S.LinkId is null ? null : S.Gateway, S.Hello, S.Services, S.Jobs, S.Grant, S.TokenHash is not null));
    }

    /// <summary>A device is created only under a valid provider id (the APIs check it first, naming the problem).</summary>
    private void CheckKey()
    {
        if (DeviceIds.Problem(this.GetPrimaryKeyString()) is { } problem)
        {
            throw new ArgumentException(problem);
        }
    }

    private IDeviceDirectoryGrain Directory => GrainFactory.GetGrain<IDeviceDirectoryGrain>(IDeviceDirectoryGrain.Key);

    private Task WriteAsync()
    {
        S.LastSeen = _lastSeen;
        return state.WriteStateAsync();
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}

[GenerateSerializer]
internal sealed class DeviceDirectoryState
{
    [Id(0)] public SortedSet<string> Providers { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class DeviceDirectoryGrain([PersistentState("devices")] IPersistentState<DeviceDirectoryState> state) : Grain, IDeviceDirectoryGrain
{
    public async Task Add(string provider)
    {
        if (state.State.Providers.Add(provider))
        {
            await state.WriteStateAsync();
        }
    }

    public Task<string[]> List() => Task.FromResult(state.State.Providers.ToArray());
}
