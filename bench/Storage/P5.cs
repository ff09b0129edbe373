using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;
using Trellis.Storage.Postgres;
using Trellis.Storage.Sqlite;

namespace Trellis.Bench.Storage;

/// <summary>
/// P5: durable grain-state writes through our store (group commit: one fsync per batch) against the same table
/// written with one transaction and one synchronous commit per write, with 64 concurrent writers.
/// </summary>
/// <remarks>
/// Each writer updates its own grain again and again, waiting for each acknowledgement like an activation does.
/// SQLite always runs (files under ./data/bench-p5, on the real disk: a tmpfs would make fsync free); PostgreSQL
/// runs when TRELLIS_BENCH_POSTGRES holds a connection string. Knobs: P5_WRITERS (64), P5_COUNT (writes per round
/// of ours, 20000), P5_RAW_COUNT (writes per round of the baseline, 2000 on SQLite, 10000 on PostgreSQL), P5_PAYLOAD
/// (bytes, 128).
/// </remarks>
public static class P5
{
    private const string GrainType = "bench";
    private static readonly int Writers = Setting("P5_WRITERS", 64);
    private static readonly int Payload = Setting("P5_PAYLOAD", 128);

    public static async Task<int> RunAsync(string[] args)
    {
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

        if (Environment.GetEnvironmentVariable("TRELLIS_BENCH_POSTGRES") is { Length: > 0 } connectionString)
        {
            await PostgresAsync(connectionString);
        }
        else
        {
            Console.WriteLine("P5 postgres: skipped (set TRELLIS_BENCH_POSTGRES to an Npgsql connection string)");
        }

        return 0;
    }

    private static async Task SqliteAsync(string folder)
    {
        var oursCount = Setting("P5_COUNT", 20_000);
        var rawCount = Setting("P5_RAW_COUNT", 2_000);
        await using var store = await SqliteStateStore.OpenAsync(new SqliteStoreOptions { Path = Path.Combine(folder, "ours.db") });
        var lease = await store.Leases.TryAcquireAsync(0, "bench", TimeSpan.FromHours(1)) ?? throw new InvalidOperationException("P5: could not take the bench lease");

        // The baseline writes the same table shape: open a store on its own file once to create it.
        var rawPath = Path.Combine(folder, "raw.db");
        await (await SqliteStateStore.OpenAsync(new SqliteStoreOptions { Path = rawPath })).DisposeAsync();
        await using var raw = new RawSqlite(rawPath);

        var ours = new OursWriters(store.GrainStorage, lease.Fence, () => store.Database.Loop.Stats);
        await CompareAsync("sqlite", ours, oursCount, raw.WriteAsync, rawCount, Writers,
            "raw = one BEGIN IMMEDIATE/UPDATE/COMMIT per write, synchronous=FULL, WAL, writers sharing one connection under a lock (SQLite has one writer; separate connections only add busy-wait sleeps)");

        // A lone writer must not wait for a batch to fill: ours should match one fsync per write.
        var lone = new OursWriters(store.GrainStorage, lease.Fence, () => store.Database.Loop.Stats, firstKey: Writers);
        await CompareAsync("sqlite", lone, 1000, (w, v, p) => raw.WriteAsync(w + Writers, v, p), 1000, 1, "one writer alone: the group commit adds no delay");
    }

    private static async Task PostgresAsync(string connectionString)
    {
        var oursCount = Setting("P5_COUNT", 20_000);
        var rawCount = Setting("P5_RAW_COUNT", 10_000);
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var oursSchema = $"p5_ours_{suffix}";
        var rawSchema = $"p5_raw_{suffix}";
        try
        {
            await using var store = await PostgresStateStore.OpenAsync(new PostgresStoreOptions { ConnectionString = connectionString, Schema = oursSchema });
            var lease = await store.Leases.TryAcquireAsync(0, "bench", TimeSpan.FromHours(1)) ?? throw new InvalidOperationException("P5: could not take the bench lease");
            await (await PostgresStateStore.OpenAsync(new PostgresStoreOptions { ConnectionString = connectionString, Schema = rawSchema })).DisposeAsync();
            await using var raw = await RawPostgres.OpenAsync(connectionString, rawSchema, Writers);

            var ours = new OursWriters(store.GrainStorage, lease.Fence, () => store.Database.Stats);
            await using var show = store.Database.DataSource.CreateCommand("SHOW fsync");
            var fsync = (string?)await show.ExecuteScalarAsync();
            await CompareAsync("postgres", ours, oursCount, raw.WriteAsync, rawCount, Writers,
                "raw = one autocommit UPDATE per write on its own connection per writer, synchronous_commit=on (the server still merges concurrent WAL flushes)"
                + (fsync == "on" ? "" : $"; WARNING: server has fsync={fsync}, so commits are not durable and this ratio means little"));
        }
        finally
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {oursSchema} CASCADE; DROP SCHEMA IF EXISTS {rawSchema} CASCADE;", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    private static async Task CompareAsync(string backend, OursWriters ours, int oursCount, Func<int, long, byte[], Task> raw, int rawCount, int writers, string note)
    {
        var payload = new byte[Payload];
        Random.Shared.NextBytes(payload);
        var rawVersions = new long[writers];
        var oursRates = new List<double>();
        var rawRates = new List<double>();
        var oursCpu = new List<double>();
        var rawCpu = new List<double>();
        var before = ours.Stats;

        for (var round = 0; round <= Harness.Rounds; round++)
        {
            var (oursRate, oursCpuPerWrite) = await MeasureAsync(writers, oursCount, (w, _) => ours.WriteAsync(w, payload));
            var (rawRate, rawCpuPerWrite) = await MeasureAsync(writers, rawCount, async (w, _) =>
            {
                await raw(w, rawVersions[w], payload);
                rawVersions[w]++;
            });

            // Round 0 warms up (JIT, caches, file growth) and is not counted.
            if (round > 0)
            {
                oursRates.Add(oursRate);
                rawRates.Add(rawRate);
                oursCpu.Add(oursCpuPerWrite);
                rawCpu.Add(rawCpuPerWrite);
            }
        }

        var after = ours.Stats;
        var batch = (double)(after.Writes - before.Writes) / Math.Max(1, after.Batches - before.Batches);
        var (oursMedian, rawMedian) = (Harness.Median(oursRates), Harness.Median(rawRates));
        var label = writers == 1 ? "1 writer" : $"{writers} writers";
        var goal = writers == 1 ? "goal ~1x" : "goal >= 10x";
        Console.WriteLine($"P5 {backend} group-commit/fsync-per-write ({label}): ours={Harness.Fmt(oursMedian)} writes/s raw={Harness.Fmt(rawMedian)} writes/s ratio={oursMedian / rawMedian:0.0}x ({goal})");
        Console.WriteLine($"   min ours={Harness.Fmt(oursRates.Min())} raw={Harness.Fmt(rawRates.Min())}; avg batch {batch:0.0} writes; client CPU ours={Harness.Median(oursCpu):0} us/write raw={Harness.Median(rawCpu):0} us/write; {Harness.Rounds} rounds x ({oursCount} ours, {rawCount} raw) writes of {Payload} B");
        Console.WriteLine($"   {note}");
    }

    /// <summary>Runs <paramref name="writers"/> tasks that each issue their share of <paramref name="total"/> writes one after another; returns writes/s and client CPU µs per write.</summary>
    private static async Task<(double Rate, double CpuMicrosPerWrite)> MeasureAsync(int writers, int total, Func<int, int, Task> write)
    {
        var each = Math.Max(1, total / writers);
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            await start.Task;
            for (var i = 0; i < each; i++)
            {
                await write(w, i);
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

    private static int Setting(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    /// <summary>Writers through our store: each updates its own grain and carries the version it got back.</summary>
    private sealed class OursWriters(IGrainStorage storage, FenceToken fence, Func<GroupCommitStats> stats, int firstKey = 0)
    {
        private readonly long[] _versions = new long[Writers + firstKey + 1];

        public GroupCommitStats Stats => stats();

        public async Task WriteAsync(int writer, byte[] payload)
        {
            var key = writer + firstKey;
            _versions[key] = await storage.WriteAsync(GrainType, $"g{key}", payload, _versions[key], fence);
        }
    }

    /// <summary>The SQLite baseline: one transaction with one synchronous commit per write.</summary>
    private sealed class RawSqlite : IAsyncDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly SemaphoreSlim _lock = new(1, 1);
        private readonly SqliteCommand _insert;
        private readonly SqliteCommand _update;

        public RawSqlite(string path)
        {
            _connection = new SqliteConnection($"Data Source={path};Pooling=False");
            _connection.Open();
            using (var pragmas = _connection.CreateCommand())
            {
                pragmas.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
                pragmas.ExecuteNonQuery();
            }

            _insert = _connection.CreateCommand();
            _insert.CommandText = "INSERT INTO grain_state (grain_type, grain_key, version, data, updated_at) VALUES ($type, $key, 1, $data, $now)";
            _update = _connection.CreateCommand();
            _update.CommandText = "UPDATE grain_state SET version = version + 1, data = $data, updated_at = $now WHERE grain_type = $type AND grain_key = $key AND version = $expected";
        }

        public async Task WriteAsync(int writer, long expected, byte[] payload)
        {
            await _lock.WaitAsync();
            try
            {
                using var transaction = _connection.BeginTransaction(deferred: false);
                var command = expected == 0 ? _insert : _update;
                command.Transaction = transaction;
                command.Parameters.Clear();
                command.Parameters.AddWithValue("$type", GrainType);
                command.Parameters.AddWithValue("$key", $"g{writer}");
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

    /// <summary>The PostgreSQL baseline: a connection per writer, one autocommit statement (one synchronous commit) per write.</summary>
    private sealed class RawPostgres : IAsyncDisposable
    {
        private readonly NpgsqlDataSource _dataSource;
        private readonly NpgsqlConnection[] _connections;

        private RawPostgres(NpgsqlDataSource dataSource, NpgsqlConnection[] connections)
        {
            _dataSource = dataSource;
            _connections = connections;
        }

        public static async Task<RawPostgres> OpenAsync(string connectionString, string schema, int writers)
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = schema, MaxPoolSize = writers + 4, MaxAutoPrepare = 8 };
            builder.Options = $"{builder.Options} -c synchronous_commit=on".Trim();
            var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
            var connections = new NpgsqlConnection[writers];
            for (var i = 0; i < writers; i++)
            {
                connections[i] = await dataSource.OpenConnectionAsync();
            }

            return new RawPostgres(dataSource, connections);
        }

        public async Task WriteAsync(int writer, long expected, byte[] payload)
        {
            await using var command = expected == 0
                ? new NpgsqlCommand("INSERT INTO grain_state (grain_type, grain_key, version, data, updated_at) VALUES ($1, $2, 1, $3, clock_timestamp())", _connections[writer])
                : new NpgsqlCommand("UPDATE grain_state SET version = version + 1, data = $3, updated_at = clock_timestamp() WHERE grain_type = $1 AND grain_key = $2 AND version = $4", _connections[writer]);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = GrainType });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = $"g{writer}" });
            command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = payload });
            if (expected != 0)
            {
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = expected });
            }

            if (await command.ExecuteNonQueryAsync() != 1)
            {
                throw new InvalidOperationException($"P5 raw: writer {writer} lost its version {expected}");
            }
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
}
