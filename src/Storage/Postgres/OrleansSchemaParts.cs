namespace Trellis.Storage.Postgres;

/// <summary>The Orleans ADO.NET features whose PostgreSQL scripts <see cref="OrleansSchema"/> applies (the main script always goes first).</summary>
[Flags]
public enum OrleansSchemaParts
{
    None = 0,

    /// <summary>Membership tables and queries (Microsoft.Orleans.Clustering.AdoNet).</summary>
    Clustering = 1,

    /// <summary>The grain state table and queries (Microsoft.Orleans.Persistence.AdoNet).</summary>
    Persistence = 2,

    /// <summary>The reminder table and queries (Microsoft.Orleans.Reminders.AdoNet).</summary>
    Reminders = 4,

    /// <summary>Stream queue tables and queries (Microsoft.Orleans.Streaming.AdoNet, served only as a pre-release).</summary>
    Streaming = 8,

    /// <summary>Clustering, persistence and reminders: what a Trellis cluster on PostgreSQL uses.</summary>
    Cluster = Clustering | Persistence | Reminders,

    All = Cluster | Streaming,
}
