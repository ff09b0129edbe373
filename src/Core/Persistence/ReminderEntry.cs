namespace Trellis.Core.Persistence;

/// <summary>A durable reminder of one grain: first due at <see cref="StartAt"/>, then every <see cref="Period"/>; stored with the grain's shard.</summary>
/// <param name="GrainType">The grain's type.</param>
/// <param name="GrainKey">The grain's key.</param>
/// <param name="Name">The reminder's name, unique per grain.</param>
/// <param name="Shard">The grain's shard, so the owner of a shard can load its reminders.</param>
/// <param name="StartAt">The first due time.</param>
/// <param name="Period">The interval between due times; positive.</param>
/// <param name="LastFiredAt">When the runtime last fired it, or null when it never fired.</param>
public sealed record ReminderEntry(
    string GrainType,
    string GrainKey,
    string Name,
    int Shard,
    DateTimeOffset StartAt,
    TimeSpan Period,
    DateTimeOffset? LastFiredAt = null)
{
    /// <summary>The first due time after the last firing (or <see cref="StartAt"/> when it never fired).</summary>
    /// <remarks>
    /// Due times are anchored on <see cref="StartAt"/>, and the runtime records the time it actually fired. After a
    /// silo was down for many periods the reminder is due once; firing it and recording that time moves the next due
    /// time past "now", so missed periods collapse into a single firing instead of a burst.
    /// </remarks>
    public DateTimeOffset NextDueAt
    {
        get
        {
            if (LastFiredAt is not { } last || last < StartAt || Period <= TimeSpan.Zero)
            {
                return StartAt;
            }

            var periodsElapsed = ((last - StartAt).Ticks / Period.Ticks) + 1;
            return StartAt + TimeSpan.FromTicks(periodsElapsed * Period.Ticks);
        }
    }

    /// <summary>True when the reminder should fire at <paramref name="now"/>.</summary>
    public bool IsDueAt(DateTimeOffset now) => now >= NextDueAt;
}
