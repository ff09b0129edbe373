using System.Collections.Concurrent;
using Orleans;
using Orleans.Runtime;
using Trellis.TestKit;

namespace Trellis.Storage.Tests.Grains;

/// <summary>A grain with a durable reminder; each tick is recorded in its silo's <see cref="TickLog"/>.</summary>
public interface ITickerGrain : IGrainWithStringKey
{
    Task Start(string reminder, TimeSpan due, TimeSpan period);

    Task<string[]> Reminders();
}

public sealed class TickerGrain(TickLog log) : Grain, ITickerGrain, IRemindable
{
    public Task Start(string reminder, TimeSpan due, TimeSpan period) => this.RegisterOrUpdateReminder(reminder, due, period);

    public async Task<string[]> Reminders()
        => [.. (await this.GetReminders()).Select(static r => r.ReminderName).Order(StringComparer.Ordinal)];

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        log.Record(this.GetPrimaryKeyString(), reminderName);
        return Task.CompletedTask;
    }
}

/// <summary>The reminder ticks one silo delivered (a singleton per silo, so a new silo starts with none).</summary>
public sealed class TickLog
{
    private readonly ConcurrentDictionary<string, CountdownSignal> _ticks = new(StringComparer.Ordinal);

    public void Record(string grainKey, string reminder) => Signal(grainKey, reminder).Increment();

    public int Count(string grainKey, string reminder) => Signal(grainKey, reminder).Count;

    public Task WaitForAsync(string grainKey, string reminder, int ticks, TimeSpan timeout)
        => Signal(grainKey, reminder).WaitForAsync(ticks, $"reminder '{reminder}' of ticker '{grainKey}' to tick in this silo", timeout);

    private CountdownSignal Signal(string grainKey, string reminder) => _ticks.GetOrAdd($"{grainKey}/{reminder}", static _ => new CountdownSignal());
}
