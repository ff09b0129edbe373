namespace Trellis.Core.Bus;

/// <summary>Thrown by a <see cref="DurableHandler"/> to give its message back without failing: the delivery
/// is rejected with requeue, so the next consumer (possibly this one) gets it again, flagged redelivered.
/// It is not reported on the error channel and does not count towards the failure that drops a message.</summary>
/// <remarks>For a handler that cannot take the message now (a grain whose shard is moving, say) and
/// wants it handled later, rather than a handler that found the message bad.</remarks>
public sealed class RequeueException : Exception
{
    public RequeueException(string reason)
        : base(reason)
    {
    }

    public RequeueException()
        : this("The handler gave the message back")
    {
    }

    public RequeueException(string reason, Exception inner)
        : base(reason, inner)
    {
    }
}
