using Trellis.Storage.Internal;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>A write that runs inside the writer's batch transaction.</summary>
internal interface ISqliteOperation
{
    /// <summary>Runs the statements and stages the outcome. A refusal (fence, version, dead silo) is thrown as a
    /// TrellisException after its statement changed nothing; any other exception aborts the batch.</summary>
    void Run(SqliteSession session);
}

/// <summary>A queued SQLite write returning <typeparamref name="T"/>.</summary>
internal sealed class SqliteOperation<T>(Func<SqliteSession, T> run, int payloadBytes) : PendingWrite<T>, ISqliteOperation
{
    public override int PayloadBytes => payloadBytes;

    public void Run(SqliteSession session) => Succeed(run(session));
}
