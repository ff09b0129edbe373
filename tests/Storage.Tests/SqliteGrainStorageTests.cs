using Microsoft.Data.Sqlite;
using Orleans.Runtime;
using Orleans.Storage;
using GrainStorageOptions = Trellis.Storage.GrainStorageOptions;
using Trellis.TestKit;
using Trellis.Storage.Sqlite;
using Trellis.Storage.Tests.Support;
using Trellis.Storage.Internal;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>The SQLite grain storage on a file of its own per test.</summary>
public sealed class SqliteGrainStorageTests : GrainStorageConformance
{
    private readonly TempFolder _folder = new();

    private string DbPath => _folder.File("orleans.db");

    [Fact]
    public async Task The_writer_runs_in_wal_mode_with_synchronous_full()
    {
        await Storage.WriteStateAsync(StateName, NewGrain(), new GrainState<Profile> { State = new Profile() });

        var file = ((SqliteGrainStorage)Storage).File;
        Assert.Equal("wal", file.WriterPragma("journal_mode"));
        Assert.Equal(2L, file.WriterPragma("synchronous")); // FULL: the WAL is fsynced at every commit
    }

    protected override async Task<IGrainStorage> StartStorageAsync(string name, string serviceId, GrainStorageOptions? limits)
        => await Providers.StartStorageAsync(DbPath, name, serviceId, limits);

    protected override Task StopStorageAsync(IGrainStorage storage) => ((SqliteGrainStorage)storage).StopAsync(CancellationToken.None);

    private protected override IGroupCommitProbe Probe(IGrainStorage storage) => ((SqliteGrainStorage)storage).File.Probe;

    protected override ValueTask DisposeStoreAsync()
    {
        _folder.Dispose();
        return ValueTask.CompletedTask;
    }

    protected override async Task<(long Version, byte[]? Data)?> ReadRowDirectAsync(GrainId grain, string stateName)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DbPath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, data FROM orleans_grain_state WHERE provider = 'store' AND grain_id = $grain AND state_name = $state";
        command.Parameters.AddWithValue("$grain", grain.ToString());
        command.Parameters.AddWithValue("$state", stateName);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1)) : null;
    }
}
