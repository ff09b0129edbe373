using Trellis.Storage.Internal;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>A queued write (or clear, when <see cref="Data"/> is null) of one grain state; its task gives the new version.</summary>
/// <remarks><see cref="ExpectedVersion"/> 0 creates the row; a clear always expects a stored version (a clear with
/// nothing stored needs no write).</remarks>
internal sealed class PostgresStateWrite(string grainId, string stateName, byte[]? data, long expectedVersion, string? etag) : PendingWrite<long>
{
    public string GrainId => grainId;

    public string StateName => stateName;

    public byte[]? Data => data;

    public long ExpectedVersion => expectedVersion;

    /// <summary>The ETag the caller sent, for the conflict it may get back.</summary>
    public string? ETag => etag;

    public override int PayloadBytes => data?.Length ?? 0;
}
