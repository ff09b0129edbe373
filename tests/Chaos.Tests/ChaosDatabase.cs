using Npgsql;

namespace Trellis.Chaos.Tests;

/// <summary>A PostgreSQL database of one run, created on the test server and dropped at the end: the silos apply Orleans'
/// schema to it themselves, and nothing of another run (membership rows, grain state) can leak in.</summary>
internal sealed class ChaosDatabase : IAsyncDisposable
{
    private readonly string _server;

    private ChaosDatabase(string server, string name)
    {
        _server = server;
        Name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public static async Task<ChaosDatabase> CreateAsync(string server, string name)
    {
        var database = new ChaosDatabase(server, name);
        await database.ExecuteAsync($"CREATE DATABASE \"{name}\"");
        return database;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)");
        }
        catch (NpgsqlException)
        {
            // The server is gone; nothing left to clean.
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_server);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
