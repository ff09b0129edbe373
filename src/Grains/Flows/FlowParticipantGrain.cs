using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Trellis.Grains.Flows;

internal sealed partial class FlowParticipantGrain(
    [PersistentState("participant")] IPersistentState<FlowParticipantState> state,
    ILogger<FlowParticipantGrain> logger) : Grain, IFlowParticipantGrain
{
    private TimeProvider _time = TimeProvider.System;
    private FlowsOptions _options = new();
    private IGrainTimer? _expiry;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _time = ServiceProvider.GetService<TimeProvider>() ?? TimeProvider.System;
        _options = ServiceProvider.GetService<FlowsOptions>() ?? new FlowsOptions();
        if (state.State.Entry is { Expired: false } entry)
        {
            ArmExpiry(entry);
        }

        return Task.CompletedTask;
    }

    public async Task Announce(string role, string payload, TimeSpan? heartbeat)
    {
        var now = _time.GetUtcNow();
        var previous = Current(now);
        var entry = new FlowParticipantEntry(
            this.GetPrimaryKeyString(), role, payload,
            previous?.FirstSeen ?? now, now, heartbeat ?? _options.ParticipantTimeout, false);
        state.State.Entry = entry;
        await state.WriteStateAsync();
        ArmExpiry(entry);
        if (previous is null || previous.Expired || previous.Payload != payload || previous.Role != role)
        {
            if (previous is { Expired: true })
            {
                LogBack(logger, entry.Id, role);
            }
            else if (previous is null)
            {
                LogDiscovered(logger, entry.Id, role);
            }

            await GrainFactory.GetGrain<IFlowDirectoryGrain>(IFlowDirectoryGrain.Key).Upsert(entry.Id, role, payload);
        }
    }

    public Task<FlowParticipantEntry?> Get() => Task.FromResult(Current(_time.GetUtcNow()));

    /// <summary>The entry with its status as of <paramref name="now"/> (expiry is computed on read, the timer only records it).</summary>
    private FlowParticipantEntry? Current(DateTimeOffset now) =>
        state.State.Entry is { } e && !e.Expired && now - e.LastSeen > e.Heartbeat ? e with { Expired = true } : state.State.Entry;

    private void ArmExpiry(FlowParticipantEntry entry)
    {
        _expiry?.Dispose();
        var due = entry.LastSeen + entry.Heartbeat - _time.GetUtcNow() + TimeSpan.FromMilliseconds(50);
        _expiry = this.RegisterGrainTimer(ExpireAsync, new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private async Task ExpireAsync(CancellationToken cancellationToken)
    {
        if (state.State.Entry is { Expired: false } && Current(_time.GetUtcNow()) is { Expired: true } expired)
        {
            state.State.Entry = expired;
            await state.WriteStateAsync(cancellationToken);
            LogExpired(logger, expired.Id, expired.Role, expired.Heartbeat.TotalSeconds);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Participant {Id} (role {Role}) discovered")]
    private static partial void LogDiscovered(ILogger logger, string id, string role);

    [LoggerMessage(Level = LogLevel.Information, Message = "Participant {Id} (role {Role}) is back online")]
    private static partial void LogBack(ILogger logger, string id, string role);

    [LoggerMessage(Level = LogLevel.Information, Message = "Participant {Id} (role {Role}) expired: no announcement within {Seconds} s")]
    private static partial void LogExpired(ILogger logger, string id, string role, double seconds);
}
