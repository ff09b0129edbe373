namespace Trellis.TestKit;

/// <summary>Waiting on events and conditions with timeouts whose failure names the phase, what was expected and what was seen.</summary>
public static class Waits
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    public static async Task<T> Within<T>(this Task<T> task, string what, TimeSpan? timeout = null)
    {
        try
        {
            return await task.WaitAsync(timeout ?? Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {(timeout ?? Default).TotalSeconds:0.#} s waiting for {what}");
        }
    }

    public static async Task Within(this Task task, string what, TimeSpan? timeout = null)
    {
        try
        {
            await task.WaitAsync(timeout ?? Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {(timeout ?? Default).TotalSeconds:0.#} s waiting for {what}");
        }
    }

    /// <summary>Asks <paramref name="observe"/> until <paramref name="done"/> holds for its answer; on timeout the message
    /// names <paramref name="what"/> (the phase, the id and the expected value) and the last answer seen.</summary>
    /// <remarks>For state only the cluster holds (an app's record, a node's registration), which raises no event a test
    /// could wait on.</remarks>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> observe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Default;
        using var deadline = new CancellationTokenSource(limit);
        var last = await observe();
        while (!done(last))
        {
            try
            {
                await Task.Delay(25, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#} s waiting for {what}; last seen: {Describe(last)}");
            }

            last = await observe();
        }

        return last;
    }

    private static string Describe(object? value) => value switch
    {
        null => "null",
        string text => text,
        System.Collections.IEnumerable items => $"[{string.Join(", ", items.Cast<object?>().Select(Describe))}]",
        _ => value.ToString() ?? "",
    };
}

/// <summary>A counter whose waiters are released when it reaches a target.</summary>
public sealed class CountdownSignal
{
    private readonly Lock _lock = new();
    private readonly List<(int Target, TaskCompletionSource Done)> _waiters = [];
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public int Increment()
    {
        lock (_lock)
        {
            _count++;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_count >= _waiters[i].Target)
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }

            return _count;
        }
    }

    public Task WaitForAsync(int target, string what, TimeSpan? timeout = null)
    {
        lock (_lock)
        {
            if (_count >= target)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((target, done));
            return Wait(done.Task);
        }

        async Task Wait(Task task)
        {
            try
            {
                await task.Within($"{what} (expected {target}, have {Count})", timeout);
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}; final count {Count}");
            }
        }
    }
}
