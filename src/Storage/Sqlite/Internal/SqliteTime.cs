namespace Trellis.Storage.Sqlite.Internal;

/// <summary>SQLite keeps instants as UTC ticks (exact and comparable as integers).</summary>
internal static class SqliteTime
{
    public static DateTimeOffset FromTicks(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}
