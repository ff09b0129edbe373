namespace Trellis.Grpc.Tests.Infrastructure;

/// <summary>Waits on events with a timeout whose message says what was expected.</summary>
public static class Wait
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(10);

    public static async Task<T> ForAsync<T>(Task<T> task, string expected, TimeSpan? timeout = null)
    {
        try
        {
            return await task.WaitAsync(timeout ?? Default, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {(timeout ?? Default).TotalSeconds:0.#} s waiting for {expected}.");
        }
    }

    public static async Task ForAsync(Task task, string expected, TimeSpan? timeout = null)
    {
        try
        {
            await task.WaitAsync(timeout ?? Default, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {(timeout ?? Default).TotalSeconds:0.#} s waiting for {expected}.");
        }
    }

    public static async Task<T> ForAsync<T>(ValueTask<T> task, string expected, TimeSpan? timeout = null)
        => await ForAsync(task.AsTask(), expected, timeout);
}
