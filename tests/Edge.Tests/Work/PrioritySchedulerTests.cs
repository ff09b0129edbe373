using System.Collections.Concurrent;
using Trellis.Edge.Work;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Work;

public sealed class PrioritySchedulerTests
{
    [Fact]
    public async Task Serves_high_before_normal_before_low_and_fifo_within_one()
    {
        await using var scheduler = new PriorityScheduler(residentWorkers: 1, queuePerWorker: 100, maxWorkers: 1);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var order = new ConcurrentQueue<string>();
        var done = new CountdownSignal();
        scheduler.Post(Priority.Normal, async _ =>
        {
            started.SetResult();
            await release.Task;
        });
        await started.Task.Within("the blocking item to start on the resident worker");

        foreach (var (priority, name) in new[] { (Priority.Low, "L1"), (Priority.Normal, "N1"), (Priority.High, "H1"), (Priority.Low, "L2"), (Priority.High, "H2") })
        {
            scheduler.Post(priority, _ =>
            {
                order.Enqueue(name);
                done.Increment();
                return Task.CompletedTask;
            });
        }

        Assert.Equal(5, scheduler.Queued);
        release.SetResult();
        await done.WaitForAsync(5, "the five queued items to run");
        Assert.Equal(["H1", "H2", "N1", "L1", "L2"], order.ToArray());
    }

    [Fact]
    public async Task Grows_with_the_queue_and_shrinks_to_the_resident_workers_when_idle()
    {
        await using var scheduler = new PriorityScheduler(residentWorkers: 1, queuePerWorker: 2, maxWorkers: 4, idleTimeout: TimeSpan.FromMilliseconds(100));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var peak = 0;
        scheduler.WorkersChanged += count => InterlockedMax(ref peak, count);
        var done = new CountdownSignal();
        for (var i = 0; i < 12; i++)
        {
            scheduler.Post(Priority.Normal, async _ =>
            {
                await gate.Task;
                done.Increment();
            });
        }

        await Waits.UntilAsync(() => Task.FromResult(scheduler.Workers), static w => w == 4, "the pool to grow to its maximum of 4 workers under a queue of 12");
        Assert.Equal(4, Volatile.Read(ref peak));

        gate.SetResult();
        await done.WaitForAsync(12, "all twelve items to run");
        await Waits.UntilAsync(() => Task.FromResult(scheduler.Workers), static w => w == 1, "the pool to shrink back to 1 resident worker after the idle timeout");
        Assert.Equal(0, scheduler.Queued);
    }

    [Fact]
    public async Task A_failing_item_is_counted_and_its_worker_goes_on()
    {
        await using var scheduler = new PriorityScheduler(residentWorkers: 1, queuePerWorker: 8, maxWorkers: 1);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        scheduler.Post(Priority.High, static _ => throw new InvalidOperationException("boom"));
        scheduler.Post(Priority.High, static _ => Task.FromException(new InvalidOperationException("async boom")));
        scheduler.Post(Priority.Low, _ =>
        {
            ran.SetResult();
            return Task.CompletedTask;
        });

        await ran.Task.Within("the item after two failing ones to run on the same worker");
        Assert.Equal(2, scheduler.Failed);
        Assert.Equal(1, scheduler.Workers);
    }

    [Fact]
    public async Task Dispose_cancels_the_running_work_and_ends_the_workers()
    {
        var scheduler = new PriorityScheduler(residentWorkers: 2);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        scheduler.Post(Priority.Normal, async ct =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        await started.Task.Within("the long item to start");
        await scheduler.DisposeAsync().AsTask().Within("the scheduler to stop with a cancelled item running");
        Assert.Equal(0, scheduler.Workers);
        Assert.Throws<ObjectDisposedException>(() => scheduler.Post(Priority.Low, static _ => Task.CompletedTask));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
