using Microsoft.Extensions.Logging;
using Trellis.Core.Errors;
using Trellis.Core.Persistence;

namespace Trellis.Core.Grains.Internal;

/// <summary>Durable reminders of the shards a silo holds: loaded when a shard is taken, fired when due, recorded when fired.</summary>
/// <remarks>
/// A reminder is recorded as fired at the time it ran, and its next due time is the first period boundary after that
/// (<see cref="ReminderEntry.NextDueAt"/>), so a reminder missed for many periods while no silo held its shard fires
/// once on recovery rather than once per missed period.
/// </remarks>
internal sealed partial class ReminderService(SiloRuntime runtime, IReminderTable table)
{
    public async Task RegisterAsync(Activation activation, string name, TimeSpan dueTime, TimeSpan period, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 100 || name.Any(char.IsControl))
        {
            throw TrellisException.Invalid("a reminder name must be 1 to 100 characters without control characters");
        }

        if (dueTime < TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"reminder '{name}': the due time must not be negative");
        }

        if (period < runtime.Options.MinReminderPeriod)
        {
            throw TrellisException.Invalid($"reminder '{name}': the period must be at least {runtime.Options.MinReminderPeriod} (Trellis:Grains:MinReminderPeriod)");
        }

        var id = activation.Id;
        var entry = new ReminderEntry(id.Type, id.Key, name, activation.Shard.Number, runtime.Time.GetUtcNow() + dueTime, period);
        activation.Shard.ThrowIfLost();
        await table.UpsertAsync(entry, cancellationToken).ConfigureAwait(false);
        lock (activation.Shard.Reminders)
        {
            activation.Shard.Reminders[(id.Type, id.Key, name)] = entry;
        }
    }

    public async Task<bool> UnregisterAsync(Activation activation, string name, CancellationToken cancellationToken)
    {
        var id = activation.Id;
        lock (activation.Shard.Reminders)
        {
            activation.Shard.Reminders.Remove((id.Type, id.Key, name));
        }

        return await table.RemoveAsync(id.Type, id.Key, name, cancellationToken).ConfigureAwait(false);
    }

    public async Task LoadAsync(ShardSlot slot, CancellationToken cancellationToken)
    {
        var entries = await table.ReadByShardAsync(slot.Number, cancellationToken).ConfigureAwait(false);
        lock (slot.Reminders)
        {
            foreach (var entry in entries)
            {
                slot.Reminders[(entry.GrainType, entry.GrainKey, entry.Name)] = entry;
            }
        }
    }

    /// <summary>Starts every due reminder of the shard that is not already running.</summary>
    public void FireDue(ShardSlot slot, CancellationToken cancellationToken)
    {
        var now = runtime.Time.GetUtcNow();
        List<ReminderEntry>? due = null;
        lock (slot.Reminders)
        {
            foreach (var (key, entry) in slot.Reminders)
            {
                if (entry.IsDueAt(now) && slot.Firing.Add(key))
                {
                    (due ??= []).Add(entry);
                }
            }
        }

        foreach (var entry in due ?? [])
        {
            _ = FireAsync(slot, entry, cancellationToken);
        }
    }

    private async Task FireAsync(ShardSlot slot, ReminderEntry entry, CancellationToken cancellationToken)
    {
        var key = (entry.GrainType, entry.GrainKey, entry.Name);
        try
        {
            if (!runtime.TryGetRegistration(entry.GrainType, out var registration))
            {
                LogUnknownType(runtime.Logger, entry.Name, entry.GrainType, entry.GrainKey);
                return;
            }

            var firedAt = runtime.Time.GetUtcNow();
            var turn = new ReminderTurn(entry.Name, cancellationToken);
            runtime.Dispatch(slot, GrainId.Create(entry.GrainType, entry.GrainKey), registration, turn);
            try
            {
                await turn.Done.ConfigureAwait(false);
            }
            catch (Exception e) when (!Activation.MeansShardLost(e))
            {
                // A failing reminder still counts as fired: it is due again at its next period, not in a tight loop.
                LogReminderFailed(runtime.Logger, entry.Name, entry.GrainType, entry.GrainKey, e.Message);
            }

            if (slot.IsLost)
            {
                return;
            }

            await table.MarkFiredAsync(entry.GrainType, entry.GrainKey, entry.Name, firedAt, cancellationToken).ConfigureAwait(false);
            lock (slot.Reminders)
            {
                if (slot.Reminders.TryGetValue(key, out var current) && current.StartAt == entry.StartAt && current.Period == entry.Period)
                {
                    slot.Reminders[key] = current with { LastFiredAt = firedAt };
                }
            }
        }
        catch (Exception e) when (Activation.MeansShardLost(e) || e is OperationCanceledException)
        {
            // The shard moved or the silo stops; the next owner fires it.
        }
        catch (Exception e)
        {
            LogReminderFailed(runtime.Logger, entry.Name, entry.GrainType, entry.GrainKey, e.Message);
        }
        finally
        {
            lock (slot.Reminders)
            {
                slot.Firing.Remove(key);
            }
        }
    }

    [LoggerMessage(EventId = 1330, Level = LogLevel.Warning, Message = "Reminder {Name} of {Type}/{Key} failed: {Reason}")]
    private static partial void LogReminderFailed(ILogger logger, string name, string type, string key, string reason);

    [LoggerMessage(EventId = 1331, Level = LogLevel.Warning, Message = "Reminder {Name} of {Type}/{Key} names a grain type this silo does not know")]
    private static partial void LogUnknownType(ILogger logger, string name, string type, string key);
}
