using Microsoft.Data.Sqlite;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>The writer connection inside the current batch transaction, with one reusable command per statement so SQLite keeps them prepared.</summary>
internal sealed class SqliteSession(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public SqliteTransaction? Transaction { get; set; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The command for <paramref name="sql"/>, enlisted in the current transaction; it keeps its parameters from the last run, so set every one with <see cref="SqliteCommandExtensions.Set"/>.</summary>
    public SqliteCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            _commands.Add(sql, command);
        }

        command.Transaction = Transaction;
        return command;
    }

    public long NowTicks() => Time.GetUtcNow().UtcTicks;

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
    }
}

/// <summary>Parameter binding that reuses a command's parameter objects from run to run.</summary>
internal static class SqliteCommandExtensions
{
    public static void Set(this SqliteCommand command, string name, object? value)
    {
        var parameters = command.Parameters;
        var index = parameters.IndexOf(name);
        if (index >= 0)
        {
            parameters[index].Value = value ?? DBNull.Value;
        }
        else
        {
            parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }
}
