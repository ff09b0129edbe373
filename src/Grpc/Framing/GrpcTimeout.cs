namespace Trellis.Grpc.Framing;

/// <summary>The grpc-timeout header: at most 8 ASCII digits and a unit H, M, S, m, u or n (PROTOCOL-HTTP2.md).</summary>
public static class GrpcTimeout
{
    public const string HeaderName = "grpc-timeout";

    /// <summary>The longest timeout honoured; longer ones are capped because timers cannot be armed further out.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

    private const int MaxDigits = 8;
    private const long MaxValue = 99_999_999;

    /// <summary>Parses a header value; false for anything the spec does not allow (the caller then ignores it).</summary>
    public static bool TryParse(ReadOnlySpan<char> value, out TimeSpan timeout)
    {
        timeout = default;
        if (value.Length < 2 || value.Length > MaxDigits + 1)
        {
            return false;
        }

        long amount = 0;
        for (var i = 0; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c < '0' || c > '9')
            {
                return false;
            }

            amount = (amount * 10) + (c - '0');
        }

        // Work in ticks (100 ns) with a ceiling for sub-tick units so a tiny positive timeout never becomes zero.
        double ticks = value[^1] switch
        {
            'H' => amount * (double)TimeSpan.TicksPerHour,
            'M' => amount * (double)TimeSpan.TicksPerMinute,
            'S' => amount * (double)TimeSpan.TicksPerSecond,
            'm' => amount * (double)TimeSpan.TicksPerMillisecond,
            'u' => amount * 10.0,
            'n' => Math.Ceiling(amount / 100.0),
            _ => -1,
        };

        if (ticks < 0)
        {
            return false;
        }

        timeout = ticks >= MaxTimeout.Ticks ? MaxTimeout : TimeSpan.FromTicks((long)ticks);
        return true;
    }

    /// <summary>Formats a timeout with the finest unit that fits in 8 digits, rounding up so the server never expires first.</summary>
    public static string Format(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
        {
            // A deadline already in the past still goes on the wire so the server fails the call at once.
            return "1n";
        }

        var ticks = timeout.Ticks;
        if (ticks <= MaxValue / 100)
        {
            return (ticks * 100).ToString(System.Globalization.CultureInfo.InvariantCulture) + "n";
        }

        ReadOnlySpan<(long TicksPerUnit, char Unit)> units =
        [
            (10, 'u'),
            (TimeSpan.TicksPerMillisecond, 'm'),
            (TimeSpan.TicksPerSecond, 'S'),
            (TimeSpan.TicksPerMinute, 'M'),
            (TimeSpan.TicksPerHour, 'H'),
        ];

        foreach (var (perUnit, unit) in units)
        {
            var amount = (ticks + perUnit - 1) / perUnit;
            if (amount <= MaxValue)
            {
                return amount.ToString(System.Globalization.CultureInfo.InvariantCulture) + unit;
            }
        }

        return MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture) + "H";
    }
}
