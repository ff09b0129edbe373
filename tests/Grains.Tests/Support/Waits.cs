namespace Trellis.Grains.Tests.Support;

/// <summary>Waiting on events and conditions with timeouts whose failure names the phase, what was expected and what was seen.</summary>
public static class Waits
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    /// <summary>Waits for <paramref name="task"/>; on timeout the message names <paramref name="what"/>.</summary>
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

    /// <summary>Waits for <paramref name="task"/>; on timeout the message names <paramref name="what"/>.</summary>
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
