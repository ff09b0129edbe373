using Npgsql;
using Orleans.Runtime;
using Orleans.Storage;
using GrainStorageOptions = Trellis.Storage.GrainStorageOptions;
using Trellis.Storage.Postgres;
using Trellis.Storage.Tests.Support;
using Trellis.Storage.Internal;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>The PostgreSQL group-commit grain storage on a database of its own per test.</summary>
public sealed class PostgresGrainStorageTests : GrainStorageConformance
{
    private PostgresDatabase _database = null!;

    [Fact]
    public async Task Writer_connections_commit_synchronously_and_a_second_start_finds_the_table()
    {
        var storage = (PostgresGrainStorage)Storage;
        await using (var command = storage.DataSource.CreateCommand("SHOW synchronous_commit"))
        {
            Assert.Equal("on", await command.ExecuteScalarAsync());
        }

        var grain = NewGrain();
        var state = new GrainState<Profile> { State = new Profile { Name = "kept" } };
        await storage.WriteStateAsync(StateName, grain, state);
        var again = await Providers.StartPostgresStorageAsync(_database.ConnectionString);
        try
        {
            var read = new GrainState<Profile>();
            await again.ReadStateAsync(StateName, grain, read);
            Assert.Equal((state.ETag, "kept"), (read.ETag, read.State!.Name));
        }
        finally
        {
            await again.StopAsync(CancellationToken.None);
        }
    }

    protected override async ValueTask InitializeStoreAsync() => _database = await PostgresDatabase.CreateAsync();

    protected override async ValueTask DisposeStoreAsync() => await _database.DisposeAsync();

    protected override async Task<IGrainStorage> StartStorageAsync(string name, string serviceId, GrainStorageOptions? limits)
        => await Providers.StartPostgresStorageAsync(_database.ConnectionString, name, serviceId, limits);

    protected override Task StopStorageAsync(IGrainStorage storage) => ((PostgresGrainStorage)storage).StopAsync(CancellationToken.None);

    private protected override IGroupCommitProbe Probe(IGrainStorage storage) => ((PostgresGrainStorage)storage).Writer.Probes.Single();

    protected override async Task<(long Version, byte[]? Data)?> ReadRowDirectAsync(GrainId grain, string stateName)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT version, data FROM trellis_orleans_grain_state WHERE provider = 'store' AND grain_id = $1 AND state_name = $2", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = grain.ToString() });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = stateName });
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1)) : null;
    }
}
