using Npgsql;
using Trellis.Core.Persistence;
using Trellis.Storage.Internal;

namespace Trellis.Storage.Postgres.Internal;

/// <summary>A queued grain write (or clear, when <see cref="Data"/> is null) for the PostgreSQL writer.</summary>
internal sealed class PostgresGrainWrite(string grainType, string grainKey, byte[]? data, long expectedVersion, FenceToken fence)
    : PendingWrite<long>
{
    public string GrainType => grainType;

    public string GrainKey => grainKey;

    public byte[]? Data => data;

    public long ExpectedVersion => expectedVersion;

    public FenceToken Fence => fence;

    public override int PayloadBytes => data?.Length ?? 0;

    public NpgsqlBatchCommand ToExplainCommand()
    {
        var command = new NpgsqlBatchCommand(PostgresSql.ExplainRefusal);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = grainType });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = grainKey });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = fence.Shard });
        return command;
    }
}
