using Npgsql;
using Trellis.Storage.Postgres;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>Orleans' PostgreSQL scripts are embedded unchanged, and the applier prepares a database once, atomically.</summary>
public sealed class OrleansSchemaTests
{
    private static readonly string[] ClusterScripts = ["PostgreSQL-Main.sql", "PostgreSQL-Clustering.sql", "PostgreSQL-Persistence.sql", "PostgreSQL-Reminders.sql"];

    [Fact]
    public void Every_embedded_script_is_orleans_text_exactly_as_recorded_when_it_was_copied()
    {
        Assert.Equal(5, OrleansSchema.Scripts.Count);
        foreach (var script in OrleansSchema.Scripts)
        {
            var loaded = script.Load();
            Assert.False(string.IsNullOrEmpty(loaded.RecordedSha256), $"{script.FileName} should record the SHA-256 of Orleans' text in its header");
            Assert.Equal(loaded.RecordedSha256, loaded.ActualSha256);
            Assert.DoesNotContain("-- trellis-", loaded.Sql, StringComparison.Ordinal);
            if (script.Marker is not null)
            {
                Assert.Contains($"'{script.Marker}'", loaded.Sql, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task A_fresh_database_gets_the_cluster_scripts_once_and_a_second_apply_does_nothing()
    {
        await using var database = await PostgresDatabase.CreateAsync();

        var first = await OrleansSchema.ApplyAsync(database.ConnectionString);
        var queries = await database.ScalarAsync<long>("SELECT count(*) FROM OrleansQuery");
        var second = await OrleansSchema.ApplyAsync(database.ConnectionString);

        Assert.Equal(ClusterScripts, first);
        Assert.Empty(second);
        Assert.Equal(queries, await database.ScalarAsync<long>("SELECT count(*) FROM OrleansQuery"));
        foreach (var key in new[] { "UpdateIAmAlivetimeKey", "WriteToStorageKey", "UpsertReminderRowKey" })
        {
            Assert.True(await database.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM OrleansQuery WHERE QueryKey = '{key}')"), $"query {key} should be stored");
        }

        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('orleansstreammessage') IS NOT NULL"), "streaming was not asked for");
    }

    [Fact]
    public async Task A_prepared_database_gets_only_the_parts_it_lacks()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        Assert.Equal(["PostgreSQL-Main.sql", "PostgreSQL-Reminders.sql"], await OrleansSchema.ApplyAsync(database.ConnectionString, OrleansSchemaParts.Reminders));

        var rest = await OrleansSchema.ApplyAsync(database.ConnectionString, OrleansSchemaParts.All);

        Assert.Equal(["PostgreSQL-Clustering.sql", "PostgreSQL-Persistence.sql", "PostgreSQL-Streaming.sql"], rest);
        Assert.Empty(await OrleansSchema.ApplyAsync(database.ConnectionString, OrleansSchemaParts.All));
        Assert.True(await database.ScalarAsync<bool>("SELECT to_regclass('orleansstreammessage') IS NOT NULL"));
    }

    [Fact]
    public async Task Appliers_racing_on_a_fresh_database_apply_each_script_exactly_once()
    {
        await using var database = await PostgresDatabase.CreateAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => OrleansSchema.ApplyAsync(database.ConnectionString))));

        Assert.Equal(ClusterScripts.Order(StringComparer.Ordinal), results.SelectMany(static r => r).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_script_that_fails_leaves_the_database_as_it_was()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        // A table in the way of the reminders script: it fails after the main, clustering and persistence scripts ran.
        await database.ExecuteAsync("CREATE TABLE OrleansRemindersTable (x int)");

        var error = await Assert.ThrowsAsync<PostgresException>(() => OrleansSchema.ApplyAsync(database.ConnectionString));

        Assert.Equal(PostgresErrorCodes.DuplicateTable, error.SqlState);
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('orleansquery') IS NOT NULL"), "the main script must be rolled back with the rest");
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('orleansmembershiptable') IS NOT NULL"), "the clustering script must be rolled back with the rest");
    }
}
