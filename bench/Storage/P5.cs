using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using Trellis.Storage;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Internal;

namespace Trellis.Bench.Storage;

/// <summary>
/// P5: durable grain-state writes through Orleans <see cref="IGrainStorage"/> providers with 64 concurrent writers:
/// Orleans' ADO.NET provider against our group-commit provider (one commit and one fsync per batch) against a raw
/// baseline of one transaction and one commit per write on an equivalent table.
/// </summary>
/// <remarks>
/// Each writer writes its own grain's state again and again, awaiting each write like an activation does, and carries
/// the ETag the provider hands back. The providers are driven directly (no silo), started through the silo lifecycle
/// as a silo would. PostgreSQL runs when TRELLIS_BENCH_POSTGRES holds a connection string (the server should have
/// fsync on; the bench says when it does not); SQLite always runs (files under ./data/bench-p5, on the real disk: a
/// tmpfs would make fsync free). Knobs: P5_WRITERS (64), P5_COUNT (writes per round of ours, 20000), P5_RAW_COUNT
/// (writes per round of each one-commit-per-write variant, 4000), P5_PAYLOAD (state bytes, 128).
/// </remarks>
public static class P5
{
    private const string StateName = "bench";
    private static readonly int Writers = Setting("P5_WRITERS", 64);
    private static readonly int Payload = Setting("P5_PAYLOAD", 128);
    private static readonly int OursCount = Setting("P5_COUNT", 20_000);
    private static readonly int RawCount = Setting("P5_RAW_COUNT", 4_000);

    public static async Task<int> RunAsync(string[] args)
    {
        if (Environment.GetEnvironmentVariable("TRELLIS_BENCH_POSTGRES") is { Length: > 0 } connectionString)
        {
            await PostgresAsync(connectionString);
        }
        else
        {
            Console.WriteLine("P5 postgres: skipped (set TRELLIS_BENCH_POSTGRES to an Npgsql connection string)");
        }

        var folder = Path.GetFullPath(Path.Combine("data", "bench-p5", Guid.NewGuid().ToString("N")));
        try
        {
            await SqliteAsync(folder);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            var parent = Path.GetDirectoryName(folder)!;
            if (Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any())
            {
                Directory.Delete(parent);
            }
        }

        return 0;
    }

    private static async Task PostgresAsync(string connectionString)
    {
        var schema = $"p5_{Guid.NewGuid().ToString("N")[..12]}";
        await ExecuteAsync(connectionString, $"CREATE SCHEMA {schema}");
        try
        {
            // Every variant works in the run's own schema: Orleans' tables and functions, ours, and the raw one.
            var inSchema = new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = schema }.ConnectionString;
            await OrleansSchema.ApplyAsync(inSchema, OrleansSchemaParts.Persistence);
            await using var silo = await Providers.StartAsync(services =>
            {
                services.AddTrellisPostgresGrainStorage("ours", inSchema);
                services.AddAdoNetGrainStorage("orleans", options =>
                {
                    options.Invariant = "Npgsql";
                    options.ConnectionString = inSchema;
                });
            });
            var ours = (PostgresGrainStorage)silo.Storage("ours");
            await using var raw = await RawPostgres.OpenAsync(inSchema, Writers);

            var fsync = await ScalarAsync(connectionString, "SHOW fsync");
            var commit = await ScalarAsync(connectionString, "SHOW synchronous_commit");
            await CompareAsync(
                "postgres",
                [
                    new Variant("ours", OursCount, new StorageWriters(ours, "ours").WriteAsync, () => ours.Writer.Stats),
                    new Variant("orleans", RawCount, new StorageWriters(silo.Storage("orleans"), "orleans").WriteAsync),
                    new Variant("raw", RawCount, raw.WriteAsync),
                ],
                $"server fsync={fsync}, synchronous_commit={commit} (ours sets it on per connection)"
                + (fsync == "on" ? "" : "; WARNING: fsync is off, so commits are not durable and these ratios mean little"),
                "orleans = Orleans' AdoNetGrainStorage 10.4.2, invariant Npgsql, Orleans' PostgreSQL scripts (one pooled connection and one autocommit call of its upsert function per write)",
                "raw = a connection per writer, BEGIN; UPDATE ... WHERE version = $expected; COMMIT per write on a table of the same shape (the server still merges concurrent WAL flushes)");
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(connectionString, $"DROP SCHEMA IF EXISTS {schema} CASCADE");
        }
    }

    private static async Task SqliteAsync(string folder)
    {
        await using var silo = await Providers.StartAsync(services => services.AddTrellisSqliteGrainStorage("ours", options => options.Configure(o => o.Path = Path.Combine(folder, "ours.db"))));
        var ours = (SqliteGrainStorage)silo.Storage("ours");
        await using var raw = new RawSqlite(Path.Combine(folder, "raw.db"));

        await CompareAsync(
            "sqlite",
            [
                new Variant("ours", OursCount, new StorageWriters(ours, "ours").WriteAsync, () => ours.File.Probe.Stats),
                new Variant("raw", RawCount / 2, raw.WriteAsync),
            ],
            "WAL, synchronous=FULL on both",
            "raw = one BEGIN IMMEDIATE/UPDATE/COMMIT per write, writers sharing one connection under a lock (SQLite has one writer; separate connections only add busy-wait sleeps)",
            "orleans = not run: Orleans' ADO.NET persistence has SQLite scripts (invariant System.Data.SQLite over Microsoft.Data.Sqlite) but Trellis does not ship them; see bench/README.md");

        // A lone writer must not wait for a batch to fill: ours should match one fsync per write.
        await CompareAsync(
            "sqlite",
            [
                new Variant("ours", 1000, new StorageWriters(ours, "lone").WriteAsync, () => ours.File.Probe.Stats),
                new Variant("raw", 1000, (w, p) => raw.WriteAsync(w + Writers, p)),
            ],
            "one writer alone: the group commit adds no delay (goal ~1x)",
            writers: 1);
    }

    private static async Task CompareAsync(string backend, Variant[] variants, string note, params string[] notes)
        => await CompareAsync(backend, variants, note, Writers, notes);

    private static async Task CompareAsync(string backend, Variant[] variants, string note, int writers, params string[] notes)
    {
        var payload = new byte[Payload];
        Random.Shared.NextBytes(payload);
        var rates = variants.Select(_ => new List<double>()).ToArray();
        var cpu = variants.Select(_ => new List<double>()).ToArray();
        var before = variants.Select(v => v.Stats?.Invoke()).ToArray();

        // Interleaved: each round runs every variant once, so a noisy neighbour moves them alike. Round 0 warms up
        // (JIT, caches, connection pools, first inserts) and is not counted.
        for (var round = 0; round <= Harness.Rounds; round++)
        {
            for (var i = 0; i < variants.Length; i++)
            {
                var (rate, cpuPerWrite) = await MeasureAsync(writers, variants[i].Count, variants[i].Write, payload);
                if (round > 0)
                {
                    rates[i].Add(rate);
                    cpu[i].Add(cpuPerWrite);
                }
            }
        }

        var medians = rates.Select(Harness.Median).ToArray();
        var label = writers == 1 ? "1 writer" : $"{writers} writers";
        Console.WriteLine($"P5 {backend} ({label}, {Payload} B state, {Harness.Rounds} rounds, medians):");
        for (var i = 0; i < variants.Length; i++)
        {
            var stats = variants[i].Stats?.Invoke();
            var batch = stats is { } after && before[i] is { } start
                ? $"; avg batch {(double)(after.Writes - start.Writes) / Math.Max(1, after.Batches - start.Batches):0.0} writes"
                : "";
            Console.WriteLine($"   {variants[i].Name,-8} {Harness.Fmt(medians[i]),7} writes/s (min {Harness.Fmt(rates[i].Min())}; client CPU {Harness.Median(cpu[i]):0} us/write{batch}; {variants[i].Count} writes/round)");
        }

        var ratios = new List<string>();
        for (var i = 0; i < variants.Length; i++)
        {
            for (var j = i + 1; j < variants.Length; j++)
            {
                ratios.Add($"{variants[i].Name}/{variants[j].Name}={medians[i] / medians[j]:0.00}x");
            }
        }

        Console.WriteLine($"   ratios: {string.Join("  ", ratios)}");
        Console.WriteLine($"   {note}");
        foreach (var line in notes)
        {
            Console.WriteLine($"   {line}");
        }
    }

    /// <summary>Runs <paramref name="writers"/> tasks that each issue their share of <paramref name="total"/> writes one after another; returns writes/s and client CPU µs per write.</summary>
    private static async Task<(double Rate, double CpuMicrosPerWrite)> MeasureAsync(int writers, int total, Func<int, byte[], Task> write, byte[] payload)
    {
        var each = Math.Max(1, total / writers);
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            await start.Task;
            for (var i = 0; i < each; i++)
            {
                await write(w, payload);
            }
        })).ToArray();

        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        start.SetResult();
        await Task.WhenAll(tasks);
        watch.Stop();
        process.Refresh();
        var writes = (long)each * writers;
        return (Harness.Rate(writes, watch), (process.TotalProcessorTime - cpu).TotalMicroseconds / writes);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (string?)await command.ExecuteScalarAsync();
    }

    private static int Setting(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    /// <summary>One contender: writes per round and a write of writer w; the counters of its group-commit writer, if it has one.</summary>
    private sealed record Variant(string Name, int Count, Func<int, byte[], Task> Write, Func<GroupCommitStats>? Stats = null);

    /// <summary>The state each writer writes: the payload and a sequence number, so every write changes it.</summary>
    public sealed class BenchState
    {
        public long Sequence { get; set; }

        public byte[] Payload { get; set; } = [];
    }

    /// <summary>Writers through an Orleans grain storage: each owns one grain and its <see cref="GrainState{T}"/>, which carries the ETag from write to write.</summary>
    private sealed class StorageWriters(IGrainStorage storage, string prefix)
    {
        private readonly GrainId[] _grains = [.. Enumerable.Range(0, Writers).Select(w => GrainId.Create("p5", $"{prefix}-{w}"))];
        private readonly GrainState<BenchState>[] _states = [.. Enumerable.Range(0, Writers).Select(_ => new GrainState<BenchState>(new BenchState()))];

        public Task WriteAsync(int writer, byte[] payload)
        {
            var state = _states[writer];
            state.State!.Sequence++;
            state.State.Payload = payload;
            return storage.WriteStateAsync(StateName, _grains[writer], state);
        }
    }

    /// <summary>Grain storages built by the registration extensions and started through a silo lifecycle, as in a silo.</summary>
    private sealed class Providers : IAsyncDisposable
    {
        private readonly ServiceProvider _services;
        private readonly SiloLifecycleSubject _lifecycle;

        private Providers(ServiceProvider services, SiloLifecycleSubject lifecycle)
        {
            _services = services;
            _lifecycle = lifecycle;
        }

        public static async Task<Providers> StartAsync(Action<IServiceCollection> add)
        {
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddSerializer();
            services.AddOptions<ClusterOptions>().Configure(o => (o.ClusterId, o.ServiceId) = ("p5", "p5"));
            // The same serializer for every provider, so the comparison is of storage alone.
            services.AddSingleton<IGrainStorageSerializer>(new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions())));
            add(services);
            var provider = services.BuildServiceProvider();
            var lifecycle = new SiloLifecycleSubject(NullLogger<SiloLifecycleSubject>.Instance);
            foreach (var participant in provider.GetServices<ILifecycleParticipant<ISiloLifecycle>>())
            {
                participant.Participate(lifecycle);
            }

            await lifecycle.OnStart();
            return new Providers(provider, lifecycle);
        }

        public IGrainStorage Storage(string name) => _services.GetRequiredKeyedService<IGrainStorage>(name);

        public async ValueTask DisposeAsync()
        {
            await _lifecycle.OnStop();
            await _services.DisposeAsync();
        }
    }

    /// <summary>The PostgreSQL baseline: a connection per writer, one transaction and one synchronous commit per write.</summary>
    private sealed class RawPostgres : IAsyncDisposable
    {
        private const string Table = """
            CREATE TABLE p5_raw_state (
                service_id text NOT NULL, provider text NOT NULL, grain_id text NOT NULL, state_name text NOT NULL,
                version bigint NOT NULL, data bytea NULL, updated_at timestamptz NOT NULL,
                PRIMARY KEY (service_id, provider, grain_id, state_name))
            """;

        private readonly NpgsqlDataSource _dataSource;
        private readonly NpgsqlConnection[] _connections;
        private readonly long[] _versions;

        private RawPostgres(NpgsqlDataSource dataSource, NpgsqlConnection[] connections)
        {
            _dataSource = dataSource;
            _connections = connections;
            _versions = new long[connections.Length];
        }

        public static async Task<RawPostgres> OpenAsync(string connectionString, int writers)
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = writers + 4, MaxAutoPrepare = 8 };
            builder.Options = $"{builder.Options} -c synchronous_commit=on".Trim();
            var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
            await using (var create = dataSource.CreateCommand(Table))
            {
                await create.ExecuteNonQueryAsync();
            }

            var connections = new NpgsqlConnection[writers];
            for (var i = 0; i < writers; i++)
            {
                connections[i] = await dataSource.OpenConnectionAsync();
            }

            return new RawPostgres(dataSource, connections);
        }

        public async Task WriteAsync(int writer, byte[] payload)
        {
            var connection = _connections[writer];
            var expected = _versions[writer];
            await using var transaction = await connection.BeginTransactionAsync();
            await using var command = expected == 0
                ? new NpgsqlCommand("INSERT INTO p5_raw_state (service_id, provider, grain_id, state_name, version, data, updated_at) VALUES ('p5', 'raw', $1, $2, 1, $3, clock_timestamp())", connection, transaction)
                : new NpgsqlCommand("UPDATE p5_raw_state SET version = version + 1, data = $3, updated_at = clock_timestamp() WHERE service_id = 'p5' AND provider = 'raw' AND grain_id = $1 AND state_name = $2 AND version = $4", connection, transaction);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = $"p5/raw-{writer}" });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = StateName });
            command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = payload });
            if (expected != 0)
            {
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = expected });
            }

            if (await command.ExecuteNonQueryAsync() != 1)
            {
                throw new InvalidOperationException($"P5 raw: writer {writer} lost its version {expected}");
            }

            await transaction.CommitAsync();
            _versions[writer] = expected + 1;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var connection in _connections)
            {
                await connection.DisposeAsync();
            }

            await _dataSource.DisposeAsync();
        }
    }

    /// <summary>The SQLite baseline: one transaction with one synchronous commit per write, on a table of the same shape.</summary>
    private sealed class RawSqlite : IAsyncDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly SemaphoreSlim _lock = new(1, 1);
        private readonly SqliteCommand _insert;
        private readonly SqliteCommand _update;
        private readonly Dictionary<int, long> _versions = [];

        public RawSqlite(string path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            _connection = new SqliteConnection($"Data Source={path};Pooling=False");
            _connection.Open();
            using (var setup = _connection.CreateCommand())
            {
                setup.CommandText = """
                    PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                    CREATE TABLE raw_state (
                        service_id TEXT NOT NULL, provider TEXT NOT NULL, grain_id TEXT NOT NULL, state_name TEXT NOT NULL,
                        version INTEGER NOT NULL, data BLOB NULL, updated_at INTEGER NOT NULL,
                        PRIMARY KEY (service_id, provider, grain_id, state_name));
                    """;
                setup.ExecuteNonQuery();
            }

            _insert = _connection.CreateCommand();
            _insert.CommandText = "INSERT INTO raw_state (service_id, provider, grain_id, state_name, version, data, updated_at) VALUES ('p5', 'raw', $grain, $state, 1, $data, $now)";
            _update = _connection.CreateCommand();
            _update.CommandText = "UPDATE raw_state SET version = version + 1, data = $data, updated_at = $now WHERE service_id = 'p5' AND provider = 'raw' AND grain_id = $grain AND state_name = $state AND version = $expected";
        }

        public async Task WriteAsync(int writer, byte[] payload)
        {
            await _lock.WaitAsync();
            try
            {
                var expected = _versions.GetValueOrDefault(writer);
                using var transaction = _connection.BeginTransaction(deferred: false);
                var command = expected == 0 ? _insert : _update;
                command.Transaction = transaction;
                command.Parameters.Clear();
                command.Parameters.AddWithValue("$grain", $"p5/raw-{writer}");
                command.Parameters.AddWithValue("$state", StateName);
                command.Parameters.AddWithValue("$data", payload);
                command.Parameters.AddWithValue("$now", DateTimeOffset.UtcNow.UtcTicks);
                if (expected != 0)
                {
                    command.Parameters.AddWithValue("$expected", expected);
                }

                if (command.ExecuteNonQuery() != 1)
                {
                    throw new InvalidOperationException($"P5 raw: writer {writer} lost its version {expected}");
                }

                transaction.Commit();
                _versions[writer] = expected + 1;
            }
            finally
            {
                _lock.Release();
            }
        }

        public ValueTask DisposeAsync()
        {
            _insert.Dispose();
            _update.Dispose();
            _lock.Dispose();
            return _connection.DisposeAsync();
        }
    }
}
