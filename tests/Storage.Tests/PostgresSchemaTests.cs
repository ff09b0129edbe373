using Npgsql;
using Trellis.Storage.Postgres;
using Trellis.Storage.Tests.Support;
using Xunit;

namespace Trellis.Storage.Tests;

/// <summary>Schema creation on PostgreSQL: silos starting together migrate a new schema once, and every connection commits synchronously.</summary>
public sealed class PostgresSchemaTests : IAsyncLifetime
{
    private readonly string _schema = PostgresTestStore.NewSchema();
    private string? _connectionString;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _connectionString = PostgresTestStore.ConnectionString();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Silos_opening_a_new_schema_together_migrate_it_once()
    {
        var options = new PostgresStoreOptions { ConnectionString = _connectionString!, Schema = _schema };
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostgresStateStore.OpenAsync(options, cancellationToken: Ct)));
        try
        {
            await using var connection = new NpgsqlConnection(_connectionString);
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand($"SELECT string_agg(name, ',') FROM {_schema}.trellis_migrations", connection);
            Assert.Equal("001_initial", await command.ExecuteScalarAsync(Ct));

            var lease = await stores[0].Leases.TryAcquireAsync(1, "silo-a", TimeSpan.FromMinutes(1), Ct);
            Assert.Equal(lease, Assert.Single((await stores[3].Leases.ReadAllAsync(Ct)).Leases));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Store_connections_commit_synchronously_whatever_the_server_default()
    {
        await using var store = await PostgresStateStore.OpenAsync(new PostgresStoreOptions { ConnectionString = _connectionString!, Schema = _schema }, cancellationToken: Ct);

        await using var command = store.Database.DataSource.CreateCommand("SHOW synchronous_commit");
        Assert.Equal("on", await command.ExecuteScalarAsync(Ct));
    }

    public async ValueTask DisposeAsync()
    {
        if (_connectionString is not null)
        {
            await PostgresTestStore.DropSchemaAsync(_connectionString, _schema);
        }
    }
}
