using Microsoft.Data.Sqlite;
using Trellis.Core.Errors;
using Trellis.Core.Nodes;

namespace Trellis.Storage.Nodes;

/// <summary>Node registrations in a SQLite file (table <c>gateway_nodes</c>), so a gateway finds its nodes again after a restart.</summary>
/// <remarks>
/// The table lives beside the state store's tables in the same file by default (<c>Trellis:Storage:Sqlite:Path</c>) but
/// owns its own schema: it is created with <c>IF NOT EXISTS</c> when the store opens. Writes are rare, so each one takes a
/// pooled connection, runs in WAL mode with <c>synchronous=FULL</c> and is durable when its task completes; a semaphore keeps
/// this process to one writer so it never waits on its own file lock.
/// </remarks>
public sealed class SqliteNodeStore : INodeStore
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS gateway_nodes (
            id TEXT NOT NULL PRIMARY KEY,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            health_check TEXT NOT NULL,
            slots TEXT NOT NULL,
            services TEXT NOT NULL,
            status TEXT NOT NULL,
            token_hash BLOB NOT NULL,
            created_ticks INTEGER NOT NULL
        );
        """;

    private const string Columns = "id, host, port, health_check, slots, services, status, token_hash, created_ticks";

    private const string Upsert = $"""
        INSERT INTO gateway_nodes ({Columns}) VALUES ($id, $host, $port, $health_check, $slots, $services, $status, $token_hash, $created_ticks)
        ON CONFLICT(id) DO UPDATE SET host = excluded.host, port = excluded.port, health_check = excluded.health_check,
            slots = excluded.slots, services = excluded.services, status = excluded.status,
            token_hash = excluded.token_hash, created_ticks = excluded.created_ticks;
        """;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);
    private int _disposed;

    private SqliteNodeStore(string path, string connectionString)
    {
        FilePath = path;
        _connectionString = connectionString;
    }

    /// <summary>The full path of the database file.</summary>
    public string FilePath { get; }

    /// <summary>Opens (creating when missing) the file and the table; throws <see cref="TrellisException"/> naming the file when it cannot.</summary>
    /// <param name="busyTimeout">How long a statement waits for another process holding the file's write lock.</param>
    public static SqliteNodeStore Open(string path, TimeSpan? busyTimeout = null)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw TrellisException.Invalid("Trellis:Storage:Sqlite:Path must name a database file");
        }

        var full = Path.GetFullPath(path);
        var timeout = busyTimeout ?? TimeSpan.FromSeconds(30);
        try
        {
            if (Path.GetDirectoryName(full) is { Length: > 0 } folder)
            {
                Directory.CreateDirectory(folder);
            }

            var builder = new SqliteConnectionStringBuilder
            {
                DataSource = full,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Cache = SqliteCacheMode.Private,
                Pooling = true,
                DefaultTimeout = (int)Math.Ceiling(timeout.TotalSeconds),
            };
            var store = new SqliteNodeStore(full, builder.ConnectionString);
            using var connection = store.Open();
            using (var wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode = WAL;";
                wal.ExecuteScalar();
            }

            using var create = connection.CreateCommand();
            create.CommandText = Schema;
            create.ExecuteNonQuery();
            return store;
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            throw new TrellisException(ErrorKind.FailedPrecondition, $"Cannot open the node store {full} (Trellis:Storage:Sqlite:Path): {e.Message}", e);
        }
    }

    public async ValueTask SaveAsync(NodeRecord node, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        ThrowIfDisposed();
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = Open();
            await using var command = connection.CreateCommand();
            command.CommandText = Upsert;
            command.Parameters.AddWithValue("$id", node.Id);
            command.Parameters.AddWithValue("$host", node.Host);
            command.Parameters.AddWithValue("$port", node.Port);
            command.Parameters.AddWithValue("$health_check", node.HealthCheck);
            command.Parameters.AddWithValue("$slots", NodeSubscriptionsJson.Write(node.Slots));
            command.Parameters.AddWithValue("$services", NodeSubscriptionsJson.Write(node.Services));
            command.Parameters.AddWithValue("$status", node.Status.ToWire());
            command.Parameters.AddWithValue("$token_hash", node.TokenHash);
            command.Parameters.AddWithValue("$created_ticks", node.Created.UtcTicks);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writer.Release();
        }
    }

    public async ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = Open();
            await using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM gateway_nodes WHERE id = $id;";
            command.Parameters.AddWithValue("$id", id);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
        }
        finally
        {
            _writer.Release();
        }
    }

    public async ValueTask<NodeRecord?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        var found = await QueryAsync($"SELECT {Columns} FROM gateway_nodes WHERE id = $id;", id, cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public async ValueTask<IReadOnlyList<NodeRecord>> ListAsync(CancellationToken cancellationToken = default) =>
        await QueryAsync($"SELECT {Columns} FROM gateway_nodes ORDER BY created_ticks, id;", null, cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // Pooled connections keep the file open; release them so the file can be moved or deleted.
            using var pooled = new SqliteConnection(_connectionString);
            SqliteConnection.ClearPool(pooled);
            _writer.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private async Task<List<NodeRecord>> QueryAsync(string sql, string? id, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (id is not null)
        {
            command.Parameters.AddWithValue("$id", id);
        }

        var result = new List<NodeRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(Read(reader));
        }

        return result;
    }

    private static NodeRecord Read(SqliteDataReader reader)
    {
        var id = reader.GetString(0);
        var statusText = reader.GetString(6);
        if (!NodeStatusNames.TryParse(statusText, out var status))
        {
            throw new TrellisException(ErrorKind.Internal, $"Node {id} has an unknown status '{statusText}' in gateway_nodes");
        }

        return new NodeRecord(
            id,
            reader.GetString(1),
            checked((int)reader.GetInt64(2)),
            reader.GetString(3),
            NodeSubscriptionsJson.Read(reader.GetString(4), id, "slots"),
            NodeSubscriptionsJson.Read(reader.GetString(5), id, "services"),
            status,
            (byte[])reader.GetValue(7),
            new DateTimeOffset(reader.GetInt64(8), TimeSpan.Zero));
    }

    /// <remarks>Microsoft.Data.Sqlite retries a busy file until the connection's DefaultTimeout, which stands in for busy_timeout.</remarks>
    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            using var pragmas = connection.CreateCommand();
            pragmas.CommandText = "PRAGMA synchronous = FULL;";
            pragmas.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
