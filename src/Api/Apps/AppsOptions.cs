using Trellis.Core.Errors;

namespace Trellis.Api.Apps;

/// <summary>Options of the apps HTTP API (<c>Trellis:Apps</c>).</summary>
public sealed class AppsOptions
{
    public const string Section = "Trellis:Apps";

    /// <summary>How often an idle watch stream gets a keep-alive comment.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Watch streams open at once in this process; more are refused with 429.</summary>
    public int MaxWatches { get; set; } = 1000;

    /// <summary>The largest request body of the apps routes.</summary>
    public int MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Checks the options; throws naming the key to fix.</summary>
    public AppsOptions Validate()
    {
        if (KeepAliveInterval <= TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"{Section}:KeepAliveInterval must be positive");
        }

        if (MaxWatches < 1)
        {
            throw TrellisException.Invalid($"{Section}:MaxWatches must be at least 1");
        }

        if (MaxBodyBytes < 1024)
        {
            throw TrellisException.Invalid($"{Section}:MaxBodyBytes must be at least 1024");
        }

        return this;
    }
}
