namespace Trellis.TestKit.Persistence;

/// <summary>A wall clock that tests move by hand, so lease expiry and heartbeats need no waiting.</summary>
/// <remarks>Only <see cref="GetUtcNow"/> is manual; timers and timestamps still follow the system clock (the stores use neither).</remarks>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _sync = new();
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_sync)
        {
            return _now;
        }
    }

    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        lock (_sync)
        {
            _now += by;
        }
    }

    /// <summary>Moves the clock forward to <paramref name="instant"/>; a clock already past it stays where it is.</summary>
    public void AdvanceTo(DateTimeOffset instant)
    {
        lock (_sync)
        {
            if (instant > _now)
            {
                _now = instant;
            }
        }
    }
}
