using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Postgres;
using Trellis.TestKit.Persistence;
using Xunit;

namespace Trellis.Storage.Tests.Support;

/// <summary>A PostgreSQL store in its own schema of the database named by TRELLIS_TEST_POSTGRES; the schema is dropped on dispose.</summary>
internal sealed class PostgresTestStore(PostgresStateStore inner, string connectionString) : IStateStore, IDatabaseClockStore
{
    public const string Variable = "TRELLIS_TEST_POSTGRES";

    public PostgresStateStore Inner => inner;

    public IGrainStorage GrainStorage => inner.GrainStorage;

    public ILeaseTable Leases => inner.Leases;

    public IMembershipTable Membership => inner.Membership;

    public IReminderTable Reminders => inner.Reminders;

    public TimeSpan ShortLeaseTtl => TimeSpan.FromSeconds(1.5);

    /// <summary>The connection string from the environment, or a skip (which the test script turns into a failure).</summary>
    public static string ConnectionString()
    {
        var connectionString = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            Assert.Skip($"{Variable} not set; ./test.sh starts PostgreSQL");
        }

        return connectionString;
    }

    public static string NewSchema() => $"t_{Guid.NewGuid():N}";

    public static async ValueTask<IStateStore> OpenAsync(StoreSetup setup)
    {
        var connectionString = ConnectionString();
        // Two writer lanes, so the suites also cover routing each grain to its lane.
        var options = new PostgresStoreOptions { ConnectionString = connectionString, Schema = NewSchema(), Grains = setup.GrainOptions, WriterConnections = 2 };
        return new PostgresTestStore(await PostgresStateStore.OpenAsync(options), connectionString);
    }

    /// <summary>A store for the grain runtime suites (the database clock is real time anyway).</summary>
    public static async ValueTask<IStateStore> OpenRealTimeAsync()
    {
        var connectionString = ConnectionString();
        var options = new PostgresStoreOptions { ConnectionString = connectionString, Schema = NewSchema() };
        return new PostgresTestStore(await PostgresStateStore.OpenAsync(options), connectionString);
    }

    /// <summary>The server clock cannot be moved, so wait on the server until it has passed the instant.</summary>
    public async ValueTask WaitUntilAsync(DateTimeOffset instant, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        var until = instant.ToUniversalTime().AddMilliseconds(1);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("SELECT pg_sleep_until($1)") { Parameters = { new NpgsqlParameter<DateTimeOffset> { TypedValue = until } } },
                new NpgsqlBatchCommand("SELECT clock_timestamp() > $1") { Parameters = { new NpgsqlParameter<DateTimeOffset> { TypedValue = instant.ToUniversalTime() } } },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        Assert.True(reader.GetBoolean(0), $"the database clock should have passed {instant:O}");
    }

    public async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        await DropSchemaAsync(connectionString, inner.Schema);
    }

    public static async Task DropSchemaAsync(string connectionString, string schema)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }
}
