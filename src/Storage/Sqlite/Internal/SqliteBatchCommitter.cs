using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Sqlite.Internal;

/// <summary>Commits a group-commit batch on a SQLite writer connection: one transaction and one fsync for all its writes.
/// A write the store refuses on its own terms (<c>isRefusal</c>: a stale version, say) fails alone inside the
/// transaction; a write whose statement makes SQLite fail rolls the batch back, fails alone, and the others run again.</summary>
internal sealed partial class SqliteBatchCommitter(SqliteConnection writer, SqliteSession session, Func<Exception, bool> isRefusal, string path, ILogger logger)
{
    // What TryRunInTransaction reports besides the index of a failed write.
    private const int Committed = -1;
    private const int NoWrite = -2;

    /// <summary>The batch callback of a <see cref="GroupCommitLoop{T}"/>.</summary>
    public ValueTask CommitAsync(List<PendingWrite> batch)
    {
        var pending = batch;
        while (true)
        {
            var failed = TryRunInTransaction(pending, out var error);
            if (failed == Committed)
            {
                return ValueTask.CompletedTask;
            }

            if (failed == NoWrite)
            {
                // The transaction itself could not start (for example another process held the file's write lock
                // past the busy timeout): nothing ran, so every write fails with that error.
                foreach (var write in pending)
                {
                    write.Reject(error!);
                }

                return ValueTask.CompletedTask;
            }

            // One write's statement failed and SQLite rolled the whole batch back: that write fails alone, the others
            // run again together.
            LogWriteFailed(logger, path, pending.Count - 1, error!);
            pending[failed].Reject(error!);
            var rest = new List<PendingWrite>(pending.Count - 1);
            for (var i = 0; i < pending.Count; i++)
            {
                if (i != failed)
                {
                    pending[i].Reset();
                    rest.Add(pending[i]);
                }
            }

            if (rest.Count == 0)
            {
                return ValueTask.CompletedTask;
            }

            pending = rest;
        }
    }

    /// <summary>Runs the writes in one transaction and commits it.</summary>
    /// <returns><see cref="Committed"/>; or, rolled back, the index of the write whose statement failed, or
    /// <see cref="NoWrite"/> when the failure came before any write. A failed commit is thrown: the batch's outcome is
    /// then unknown and every write fails.</returns>
    private int TryRunInTransaction(List<PendingWrite> writes, out Exception? error)
    {
        error = null;
        var current = NoWrite;
        var committing = false;
        try
        {
            using var transaction = writer.BeginTransaction(deferred: false);
            session.Transaction = transaction;
            for (current = 0; current < writes.Count; current++)
            {
                try
                {
                    ((ISqliteOperation)writes[current]).Run(session);
                }
                catch (Exception refused) when (isRefusal(refused))
                {
                    writes[current].Reject(refused);
                }
            }

            committing = true;
            transaction.Commit();
            return Committed;
        }
        catch (SqliteException failed) when (!committing)
        {
            error = failed;
            return current;
        }
        finally
        {
            session.Transaction = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite file {Path}: a write failed in the database; the {Count} other writes of its batch run again without it")]
    private static partial void LogWriteFailed(ILogger logger, string path, int count, Exception error);
}
