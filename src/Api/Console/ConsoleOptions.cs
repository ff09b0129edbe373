using Trellis.Core.Errors;

namespace Trellis.Api.Console;

/// <summary>Options of the Trellis console at <c>/console</c> (<c>Trellis:Console</c>).</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Trellis:Console";

    /// <summary>Whether <c>/console</c> is mapped at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often viewers get a snapshot while at least one watches.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many of the error channel's latest reports the live tail keeps.</summary>
    public int ErrorTail { get; set; } = 50;

    /// <summary>Viewers (event streams) open at once in this process; more are refused with 429.</summary>
    public int MaxViewers { get; set; } = 32;

    /// <summary>Checks the options; throws naming the key to fix.</summary>
    public ConsoleOptions Validate()
    {
        if (Interval < TimeSpan.FromMilliseconds(100) || Interval > TimeSpan.FromMinutes(1))
        {
            throw TrellisException.Invalid($"{Section}:Interval must be between 00:00:00.1 and 00:01:00");
        }

        if (ErrorTail is < 1 or > 10_000)
        {
            throw TrellisException.Invalid($"{Section}:ErrorTail must be between 1 and 10000");
        }

        if (MaxViewers < 1)
        {
            throw TrellisException.Invalid($"{Section}:MaxViewers must be at least 1");
        }

        return this;
    }
}
