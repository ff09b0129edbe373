using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Trellis.Storage.Postgres;

/// <summary>Prepares a PostgreSQL database for Orleans' ADO.NET providers by applying Orleans' own scripts, once.</summary>
/// <remarks>
/// <para>The scripts are Orleans' (dotnet/orleans, src/AdoNet, MIT), embedded verbatim below a header naming their
/// origin; they create the tables and store in <c>OrleansQuery</c> the queries the providers run, so they must not be
/// edited. They are not idempotent (plain <c>CREATE TABLE</c>, <c>INSERT INTO OrleansQuery</c>), so the applier looks
/// first: the main script ran when the <c>OrleansQuery</c> table exists, and each feature's script ran when its first
/// query key is in that table. Everything runs in one transaction, behind a transaction-scoped advisory lock, so silos
/// starting together apply the scripts once and a failure leaves the database as it was.</para>
/// <para>Objects are created in the first schema of the connection's search path (<c>public</c> unless the connection
/// string sets <c>Search Path</c>); the providers must use the same connection string.</para>
/// </remarks>
public static class OrleansSchema
{
    // pg_advisory_xact_lock key: any constant shared by every applier; this one spells "orleans" in ASCII.
    private const long LockKey = 0x6F_72_6C_65_61_6E_73;

    private const string HeaderPrefix = "-- trellis-";
    private const string HashPrefix = "-- trellis-sha256: ";

    /// <summary>The scripts in the order they must run, with the query key each one stores (its marker).</summary>
    internal static readonly IReadOnlyList<Script> Scripts =
    [
        new(OrleansSchemaParts.None, "PostgreSQL-Main.sql", Marker: null),
        new(OrleansSchemaParts.Clustering, "PostgreSQL-Clustering.sql", "UpdateIAmAlivetimeKey"),
        new(OrleansSchemaParts.Persistence, "PostgreSQL-Persistence.sql", "WriteToStorageKey"),
        new(OrleansSchemaParts.Reminders, "PostgreSQL-Reminders.sql", "UpsertReminderRowKey"),
        new(OrleansSchemaParts.Streaming, "PostgreSQL-Streaming.sql", "QueueStreamMessageKey"),
    ];

    /// <summary>Applies the scripts for clustering, persistence and reminders that the database does not have yet.</summary>
    /// <returns>The file names of the scripts applied now; empty when the database was already prepared.</returns>
    public static Task<IReadOnlyList<string>> ApplyAsync(string connectionString, CancellationToken cancellationToken = default)
        => ApplyAsync(connectionString, OrleansSchemaParts.Cluster, cancellationToken);

    /// <summary>Applies the main script and those of <paramref name="parts"/> that the database does not have yet.</summary>
    /// <returns>The file names of the scripts applied now; empty when the database was already prepared.</returns>
    public static async Task<IReadOnlyList<string>> ApplyAsync(string connectionString, OrleansSchemaParts parts, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({LockKey})", connection, transaction))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var applied = new List<string>();
        var hasQueryTable = await ScalarAsync<bool>(connection, transaction, "SELECT to_regclass('orleansquery') IS NOT NULL", null, cancellationToken).ConfigureAwait(false);
        foreach (var script in Scripts)
        {
            if (script.Part != OrleansSchemaParts.None && !parts.HasFlag(script.Part))
            {
                continue;
            }

            var present = script.Marker is null
                ? hasQueryTable
                : await ScalarAsync<bool>(connection, transaction, "SELECT EXISTS (SELECT 1 FROM OrleansQuery WHERE QueryKey = @key)", script.Marker, cancellationToken).ConfigureAwait(false);
            if (present)
            {
                continue;
            }

            await using (var command = new NpgsqlCommand(script.Load().Sql, connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            hasQueryTable = true;
            applied.Add(script.FileName);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return applied;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, string? key, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        if (key is not null)
        {
            command.Parameters.AddWithValue("key", key);
        }

        return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>One of Orleans' scripts: the feature it serves, its file name, and the query key it stores.</summary>
    internal sealed record Script(OrleansSchemaParts Part, string FileName, string? Marker)
    {
        /// <summary>Reads the embedded file and splits it into our header and Orleans' text.</summary>
        public LoadedScript Load()
        {
            var assembly = typeof(OrleansSchema).Assembly;
            var resource = $"Trellis.Storage.Postgres.Sql.{FileName}";
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"Embedded script {resource} is missing from {assembly.GetName().Name}.");
            using var reader = new StreamReader(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), detectEncodingFromByteOrderMarks: false);
            var text = reader.ReadToEnd();

            // The header is the leading "-- trellis-" lines; everything after it is Orleans' text, untouched.
            var start = 0;
            string? recordedHash = null;
            while (text.AsSpan(start).StartsWith(HeaderPrefix, StringComparison.Ordinal))
            {
                var end = text.IndexOf('\n', start);
                var line = text[start..end];
                if (line.StartsWith(HashPrefix, StringComparison.Ordinal))
                {
                    recordedHash = line[HashPrefix.Length..].Trim();
                }

                start = end + 1;
            }

            return new LoadedScript(text[start..], recordedHash);
        }
    }

    /// <summary>Orleans' text of a script, and the SHA-256 our header recorded for it when it was copied.</summary>
    internal sealed record LoadedScript(string Sql, string? RecordedSha256)
    {
        public string ActualSha256 => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));
    }
}
