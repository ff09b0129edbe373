using Trellis.Core.Errors;
using Trellis.Core.Nodes;

namespace Trellis.Api.Proxy;

/// <summary>Limits and health checking of the node proxy (configuration section <c>Trellis:Nodes</c>).</summary>
public sealed class NodesOptions
{
    public const string Section = "Trellis:Nodes";

    /// <summary>How often every node's health path is fetched (Gilmour's proxy: 10 s).</summary>
    public TimeSpan HealthInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one health check may take before it counts as a failure.</summary>
    public TimeSpan HealthTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Hosts besides 127.0.0.1 that a registration may name in <c>host</c>; nodes are called on 127.0.0.1
    /// unless a host listed here is asked for, so registration cannot point the gateway at arbitrary hosts.</summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>Registered nodes per gateway (more → 429).</summary>
    public int MaxNodes { get; set; } = 10_000;

    /// <summary>Slots plus services of one node (more → 400).</summary>
    public int MaxSubscriptionsPerNode { get; set; } = 256;

    /// <summary>Largest request body; 0 means the kernel's MaxPayloadBytes plus 64 KiB for the envelope (→ 413).</summary>
    public int MaxBodyBytes { get; set; }

    /// <summary>Largest reply body read from a node; 0 means the kernel's MaxPayloadBytes.</summary>
    public int MaxReplyBytes { get; set; }


    /// <summary>Throws naming the first bad key.</summary>
    public NodesOptions Validate()
    {
        Positive(HealthInterval, nameof(HealthInterval));
        Positive(HealthTimeout, nameof(HealthTimeout));
        AtLeast(MaxNodes, 1, nameof(MaxNodes));
        AtLeast(MaxSubscriptionsPerNode, 1, nameof(MaxSubscriptionsPerNode));
        AtLeast(MaxBodyBytes, 0, nameof(MaxBodyBytes));
        AtLeast(MaxReplyBytes, 0, nameof(MaxReplyBytes));
        AllowedHosts ??= [];
        foreach (var host in AllowedHosts)
        {
            if (string.IsNullOrWhiteSpace(host) || Uri.CheckHostName(host) == UriHostNameType.Unknown)
            {
                throw TrellisException.Invalid($"{Section}:AllowedHosts has '{host}', which is not a host name or IP address");
            }
        }

        return this;
    }

    /// <summary>Whether a registration may ask to be called on <paramref name="host"/>.</summary>
    public bool IsAllowedHost(string host) =>
        string.Equals(host, NodeRecord.LoopbackHost, StringComparison.Ordinal)
        || Array.Exists(AllowedHosts, h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase));

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw TrellisException.Invalid($"{Section}:{name} must be positive (was {value})");
        }
    }

    private static void AtLeast(int value, int min, string name)
    {
        if (value < min)
        {
            throw TrellisException.Invalid($"{Section}:{name} must be at least {min} (was {value})");
        }
    }
}

/// <summary>Credentials of the control APIs (configuration section <c>Trellis:Security</c>).</summary>
public sealed class SecurityOptions
{
    public const string Section = "Trellis:Security";

    /// <summary>The shortest admin token accepted, so a guessable one is refused at start-up.</summary>
    public const int MinAdminTokenLength = 16;

    /// <summary>A bearer token that may manage every node and publish as any; unset means node tokens only.</summary>
    public string? AdminToken { get; set; }

    /// <summary>The SHA-256 of <see cref="AdminToken"/> (<see cref="NodeCredentials.Hash"/>), which is all a check of a
    /// presented token needs; null when none is set.</summary>
    public byte[]? AdminTokenHash() => AdminToken is { Length: > 0 } admin ? NodeCredentials.Hash(admin) : null;

    public SecurityOptions Validate()
    {
        if (AdminToken is { } token && token.Length > 0)
        {
            if (token.Length < MinAdminTokenLength)
            {
                throw TrellisException.Invalid($"{Section}:AdminToken must be at least {MinAdminTokenLength} characters long");
            }

            foreach (var c in token)
            {
                if (c <= ' ' || c > '~')
                {
                    throw TrellisException.Invalid($"{Section}:AdminToken must be printable ASCII without spaces");
                }
            }
        }

        return this;
    }
}
