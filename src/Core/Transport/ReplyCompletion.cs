using System.Runtime.CompilerServices;

namespace Trellis.Core.Transport;

/// <summary>Decides on which thread a requester waiting for a reply resumes: without a thread-pool hop where that is
/// safe, on the thread pool otherwise.</summary>
/// <remarks>
/// <para>A requester's continuation is code the bus does not control. It must never run inside a user handler's call
/// (reentrancy, the handler's locks), nor hold up a consumer loop that others depend on for longer than a moment. The
/// rules:</para>
/// <list type="bullet">
/// <item>A reply sent while an in-process consumer loop runs a handler on this thread (the handler answered before it
/// returned, or called <c>ReplyAsync</c>) is <em>deferred</em> (<see cref="Defer"/>): the loop resumes the requester
/// after the handler has returned, outside it. Meanwhile the loop counts as lent; if it stays lent while messages wait
/// in its queue, the transport's watchdog starts a fresh loop for the queue and the lent one retires when it gets its
/// thread back (see <c>MemoryConsumer</c>). A requester that blocks therefore costs the queue at most a watchdog
/// period, and never deadlocks it.</item>
/// <item>A reply the bus sends after a handler finished asynchronously (<see cref="AllowInline"/>) resumes the
/// requester inline on that thread, as a plain <c>await</c> would, if it is a thread-pool thread without a
/// synchronisation context or task scheduler of its own and with stack to spare.</item>
/// <item>Everything else resumes the requester on the thread pool: replies from a broker's consumer (RabbitMQ), from a
/// user's <c>ReplyAsync</c> outside a consumer loop, timeouts, disposal.</item>
/// </list>
/// <para>Handlers never run on a requester's thread: publishing only enqueues, so a handler cannot block a requester
/// that has not got its task back yet, re-enter its locks, or nest request inside request on one stack.</para>
/// </remarks>
internal static class ReplyCompletion
{
    [ThreadStatic]
    private static DeferredReplies? t_deferred;

    [ThreadStatic]
    private static bool t_inline;

    /// <summary>Resumes a requester (<paramref name="completion"/> sets its result) by the rules above.</summary>
    public static void Complete(IThreadPoolWorkItem completion)
    {
        if (t_deferred is { } deferred)
        {
            deferred.Add(completion);
        }
        else if (t_inline)
        {
            RunOrQueue(completion);
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(completion, preferLocal: true);
        }
    }

    /// <summary>Runs <paramref name="completion"/> here if this is a plain thread-pool thread with stack to spare, else
    /// queues it to the thread pool.</summary>
    public static void RunOrQueue(IThreadPoolWorkItem completion)
    {
        if (Thread.CurrentThread.IsThreadPoolThread
            && SynchronizationContext.Current is null
            && TaskScheduler.Current == TaskScheduler.Default
            && RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            completion.Execute();
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(completion, preferLocal: true);
        }
    }

    /// <summary>Marks a reply the bus itself sends once a handler has finished; dispose to unmark.</summary>
    public static Scope AllowInline()
    {
        var previous = new Scope(t_deferred, t_inline);
        t_inline = true;
        return previous;
    }

    /// <summary>Collects the replies sent while a consumer loop runs a handler on this thread; dispose to stop.</summary>
    public static Scope Defer(DeferredReplies replies)
    {
        var previous = new Scope(t_deferred, t_inline);
        t_deferred = replies;
        t_inline = false;
        return previous;
    }

    /// <summary>Restores the marks that were in force before.</summary>
    public readonly struct Scope(DeferredReplies? deferred, bool inline) : IDisposable
    {
        public void Dispose()
        {
            t_deferred = deferred;
            t_inline = inline;
        }
    }
}

/// <summary>Replies a handler sent while its consumer loop ran it; the loop resumes their requesters once the handler
/// has returned. One per loop, touched only by the thread running that loop.</summary>
internal sealed class DeferredReplies
{
    private IThreadPoolWorkItem? _first;
    private List<IThreadPoolWorkItem>? _more;

    public bool IsEmpty => _first is null;

    public void Add(IThreadPoolWorkItem completion)
    {
        if (_first is null)
        {
            _first = completion;
        }
        else
        {
            (_more ??= []).Add(completion);
        }
    }

    /// <summary>Resumes every collected requester (on this thread where <see cref="ReplyCompletion.RunOrQueue"/> allows).</summary>
    public void RunAll()
    {
        var first = _first!;
        _first = null;
        IThreadPoolWorkItem[]? rest = null;
        if (_more is { Count: > 0 } more)
        {
            rest = [.. more];
            more.Clear();
        }

        ReplyCompletion.RunOrQueue(first);
        foreach (var completion in rest ?? [])
        {
            ReplyCompletion.RunOrQueue(completion);
        }
    }
}
