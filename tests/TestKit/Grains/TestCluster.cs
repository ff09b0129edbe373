using Trellis.Core.Bus;
using Trellis.Core.Grains;
using Trellis.Core.Persistence;
using Trellis.Core.Transport;
using Trellis.Core.Transport.InMemory;

using Xunit;

namespace Trellis.TestKit.Grains;

/// <summary>How a <see cref="TestCluster"/> is built: grain types, runtime settings, and where its bus and store come from.</summary>
public sealed class TestClusterOptions
{
    /// <summary>Registers the grain classes every silo can activate.</summary>
    public Action<GrainTypes> Grains { get; init; } = static _ => { };

    /// <summary>Runtime settings; the defaults here are short so failover happens within a test's patience.</summary>
    public GrainsOptions Runtime { get; init; } = Fast();

    /// <summary>Creates one transport per process (silo or client); the default puts all on one in-process broker.</summary>
    public Func<ITransport>? Transport { get; init; }

    /// <summary>The store every silo shares; an in-memory store when null.</summary>
    public IStateStore? Store { get; init; }

    /// <summary>True when the cluster disposes <see cref="Store"/> with itself.</summary>
    public bool OwnsStore { get; init; }

    /// <summary>Runtime settings with short leases and intervals: a killed silo's shards move within about two seconds.</summary>
    public static GrainsOptions Fast(int shards = 16) => new()
    {
        Cluster = $"test-{Guid.NewGuid():N}",
        Shards = shards,
        LeaseTtl = TimeSpan.FromSeconds(1.5),
        RenewInterval = TimeSpan.FromMilliseconds(300),
        BalanceInterval = TimeSpan.FromMilliseconds(200),
        SiloDeadAfter = TimeSpan.FromSeconds(1.5),
        ReminderInterval = TimeSpan.FromMilliseconds(100),
        MinReminderPeriod = TimeSpan.FromMilliseconds(100),
        CallTimeout = TimeSpan.FromSeconds(20),
        SiloName = "test",
    };
}

/// <summary>N silos and a client in one process, sharing one bus topology and one store, with stop, kill and start of a silo.</summary>
/// <remarks>
/// Killing a silo stops it as a crash would (no hand-over, leases left to expire), so the survivors take its shards
/// only after the lease time to live — the same path a real kill -9 takes. Every activation start and end is recorded
/// in <see cref="History"/>, which can check that no grain was ever live on two silos at once.
/// </remarks>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly TestClusterOptions _options;
    private readonly InMemoryBroker _broker = new();
    private readonly List<(SiloRuntime? Silo, MessageBus Bus)> _silos = [];
    private readonly Lock _lock = new();
    private MessageBus? _clientBus;
    private bool _ownsStore;

    private TestCluster(TestClusterOptions options)
    {
        _options = options;
        Store = options.Store ?? new InMemoryStateStore();
        _ownsStore = options.Store is null || options.OwnsStore;
    }

    /// <summary>The store the silos share.</summary>
    public IStateStore Store { get; }

    /// <summary>Calls grains from outside any silo, as a gateway does.</summary>
    public IGrainClient Client { get; private set; } = null!;

    /// <summary>Every activation start and end on any silo, in order.</summary>
    public ActivationHistory History { get; } = new();

    public GrainsOptions Runtime => _options.Runtime;

    /// <summary>The client's bus (for signals and services next to grain calls).</summary>
    public MessageBus ClientBus => _clientBus!;

    /// <summary>The silos by index; a stopped or killed silo stays in its place as null.</summary>
    public IReadOnlyList<SiloRuntime?> Silos
    {
        get
        {
            lock (_lock)
            {
                return _silos.Select(s => s.Silo).ToArray();
            }
        }
    }

    /// <summary>Starts <paramref name="silos"/> silos and waits until every shard is held.</summary>
    public static async Task<TestCluster> StartAsync(int silos, TestClusterOptions? options = null)
    {
        var cluster = new TestCluster(options ?? new TestClusterOptions());
        cluster._clientBus = await MessageBus.StartAsync(cluster.NewTransport());
        cluster.Client = new GrainClient(cluster._clientBus, cluster._options.Runtime);
        for (var i = 0; i < silos; i++)
        {
            await cluster.StartSiloAsync();
        }

        if (silos > 0)
        {
            await cluster.WaitForBalanceAsync("the cluster to start");
        }

        return cluster;
    }

    /// <summary>Starts one more silo; returns its index.</summary>
    public async Task<int> StartSiloAsync()
    {
        var types = new GrainTypes();
        _options.Grains(types);
        var bus = await MessageBus.StartAsync(NewTransport());
        var silo = await SiloRuntime.StartAsync(bus, Store, types, _options.Runtime);
        silo.ActivationChanged += History.Record;
        lock (_lock)
        {
            _silos.Add((silo, bus));
            return _silos.Count - 1;
        }
    }

    /// <summary>Stops a silo cleanly (its shards are handed over at once).</summary>
    public async Task StopSiloAsync(int index)
    {
        var (silo, bus) = Take(index);
        if (silo is not null)
        {
            await silo.StopAsync();
            await bus.DisposeAsync();
        }
    }

    /// <summary>Stops a silo as a crash would: its leases expire and the others take its shards.</summary>
    public async Task KillSiloAsync(int index)
    {
        var (silo, bus) = Take(index);
        if (silo is not null)
        {
            await silo.KillAsync();
            History.SiloKilled(silo.SiloId);
            await bus.DisposeAsync();
        }
    }

    /// <summary>Waits until every shard is held by exactly one live silo and each holds its fair share.</summary>
    public async Task WaitForBalanceAsync(string phase, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        var started = DateTime.UtcNow;
        string last = "";
        while (DateTime.UtcNow - started < limit)
        {
            var live = Silos.Where(s => s is not null).Cast<SiloRuntime>().ToArray();
            var owned = live.SelectMany(s => s.OwnedShards).ToArray();
            var share = (Runtime.Shards + live.Length - 1) / Math.Max(live.Length, 1);
            var balanced = owned.Length == Runtime.Shards && owned.Distinct().Count() == Runtime.Shards
                && live.All(s => s.OwnedShards.Count <= share);
            if (balanced)
            {
                return;
            }

            last = string.Join(", ", live.Select(s => $"{s.SiloId}: {s.OwnedShards.Count}"));
            await Task.Delay(50);
        }

        throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#} s waiting for {phase}: every one of {Runtime.Shards} shards held once and balanced; held: {last}");
    }

    /// <summary>The live silo holding <paramref name="grain"/>'s shard, or null.</summary>
    public SiloRuntime? OwnerOf(GrainId grain)
    {
        var shard = grain.ShardOf(Runtime.Shards);
        return Silos.FirstOrDefault(s => s is not null && s.OwnedShards.Contains(shard));
    }

    /// <summary>The index of a live silo.</summary>
    public int IndexOf(SiloRuntime silo)
    {
        lock (_lock)
        {
            return _silos.FindIndex(s => s.Silo == silo);
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < Silos.Count; i++)
        {
            await StopSiloAsync(i);
        }

        if (_clientBus is not null)
        {
            await _clientBus.DisposeAsync();
        }

        if (_ownsStore)
        {
            await Store.DisposeAsync();
            _ownsStore = false;
        }
    }

    private ITransport NewTransport() => _options.Transport?.Invoke() ?? new InMemoryTransport(_broker);

    private (SiloRuntime? Silo, MessageBus Bus) Take(int index)
    {
        lock (_lock)
        {
            var entry = _silos[index];
            _silos[index] = (null, entry.Bus);
            return entry;
        }
    }
}

/// <summary>Activation starts and ends across a cluster, with the check that one grain is never live on two silos at once.</summary>
public sealed class ActivationHistory
{
    private readonly Lock _lock = new();
    private readonly Dictionary<GrainId, (string Silo, long Epoch)> _live = [];
    private readonly List<string> _overlaps = [];
    private readonly HashSet<string> _killed = [];

    /// <summary>Activations started so far.</summary>
    public int Activations { get; private set; }

    /// <summary>Every case of a grain becoming active on one silo while live on another (empty when the rule held).</summary>
    public IReadOnlyList<string> Overlaps
    {
        get
        {
            lock (_lock)
            {
                return [.. _overlaps];
            }
        }
    }

    /// <summary>Forgets the activations of a killed silo: a crashed process ends them without an event.</summary>
    public void SiloKilled(string siloId)
    {
        lock (_lock)
        {
            _killed.Add(siloId);
            foreach (var grain in _live.Where(p => p.Value.Silo == siloId).Select(p => p.Key).ToArray())
            {
                _live.Remove(grain);
            }
        }
    }

    internal void Record(ActivationEvent e)
    {
        lock (_lock)
        {
            if (e.Active)
            {
                Activations++;
                if (_live.TryGetValue(e.Grain, out var other) && other.Silo != e.SiloId && !_killed.Contains(other.Silo))
                {
                    _overlaps.Add($"{e.Grain} became active on {e.SiloId} (epoch {e.Epoch}) while live on {other.Silo} (epoch {other.Epoch})");
                }

                _live[e.Grain] = (e.SiloId, e.Epoch);
            }
            else if (_live.TryGetValue(e.Grain, out var current) && current.Silo == e.SiloId)
            {
                _live.Remove(e.Grain);
            }
        }
    }
}
