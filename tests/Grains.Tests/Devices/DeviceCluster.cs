using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Grains.Tests.Devices;

/// <summary>A one-silo test cluster for the device grains: its wall clock is <see cref="Clock"/> (real time plus an offset
/// the test moves forward) and its default grain storage is <see cref="Storage"/>, which outlives the silo (so a restart
/// reactivates grains from what they wrote) and counts writes.</summary>
public sealed class DeviceCluster : IAsyncLifetime
{
    public OffsetClock Clock { get; } = new();

    public CountingStorage Storage { get; } = new();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public async ValueTask InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Services.AddSingleton<TimeProvider>(Clock);
        });
        builder.ConfigureSilo((_, silo) => silo.Services.AddGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, (_, _) => Storage));
        Cluster = builder.Build();
        await Cluster.DeployAsync().Within("the device test cluster to start");
    }

    /// <summary>Stops the silo and starts a fresh one: every grain is reactivated from storage.</summary>
    public async Task RestartAsync()
    {
        await Cluster.StopSilosAsync().Within("the silo to stop for a restart");
        await Cluster.StartSilosAsync(1).Within("a fresh silo to start");
        await Cluster.InitializeClientAsync().Within("a fresh cluster client to connect");
    }

    public async ValueTask DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>The system clock moved forward by <see cref="Advance"/>: wall time only, so the silo's own timers run as usual.</summary>
    public sealed class OffsetClock : TimeProvider
    {
        private long _offsetTicks;

        public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
    }

    /// <summary>Grain state in memory outside the silo, with a count of writes per grain.</summary>
    public sealed class CountingStorage : IGrainStorage
    {
        private readonly ConcurrentDictionary<(string, GrainId), (object State, string ETag)> _states = new();
        private readonly ConcurrentDictionary<GrainId, int> _writes = new();

        public int Writes(GrainId grain) => _writes.GetValueOrDefault(grain);

        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (_states.TryGetValue((stateName, grainId), out var stored))
            {
                grainState.State = (T)stored.State;
                grainState.ETag = stored.ETag;
                grainState.RecordExists = true;
            }

            return Task.CompletedTask;
        }

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            var etag = Guid.NewGuid().ToString("N");
            _states[(stateName, grainId)] = (grainState.State!, etag);
            _writes.AddOrUpdate(grainId, 1, static (_, n) => n + 1);
            grainState.ETag = etag;
            grainState.RecordExists = true;
            return Task.CompletedTask;
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            _states.TryRemove((stateName, grainId), out _);
            grainState.RecordExists = false;
            return Task.CompletedTask;
        }
    }
}
