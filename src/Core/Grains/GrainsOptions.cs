namespace Trellis.Core.Grains;

/// <summary>Settings of the grain runtime (section <c>Trellis:Grains</c>); every process of a cluster must agree on <see cref="Shards"/>.</summary>
public sealed class GrainsOptions
{
    public const string Section = "Trellis:Grains";

    /// <summary>The cluster's name: its shard queues are named after it, so clusters can share a broker. Same in every process.</summary>
    public string Cluster { get; set; } = "default";

    /// <summary>How many shards the grain space is cut into; the unit of ownership and failover. Same in every process.</summary>
    public int Shards { get; set; } = 64;

    /// <summary>An activation idle this long is deactivated (its state stays stored).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How often idle activations are looked for.</summary>
    public TimeSpan CollectionInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a shard lease lasts without renewal; a dead silo's shards move after at most this long.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How often held leases are renewed; well under <see cref="LeaseTtl"/>.</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a silo heartbeats, looks at membership and leases, and takes or hands over shards.</summary>
    public TimeSpan BalanceInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A silo without a heartbeat for this long no longer counts for balancing and is declared dead.</summary>
    public TimeSpan SiloDeadAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often due reminders are looked for.</summary>
    public TimeSpan ReminderInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Shortest reminder period accepted.</summary>
    public TimeSpan MinReminderPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Default time a caller waits for a grain's reply, and the longest a turn may run before its token is cancelled.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Calls a silo runs at once per shard (across that shard's grains; each grain still runs one turn at a time).</summary>
    public int ShardConcurrency { get; set; } = 256;

    /// <summary>Prefix of this silo's id (an incarnation id is appended); the machine name when empty.</summary>
    public string SiloName { get; set; } = "";

    /// <summary>Throws an ArgumentException naming the first invalid setting.</summary>
    public GrainsOptions Validate()
    {
        Check(Cluster is { Length: >= 1 and <= 64 } && Cluster.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'), nameof(Cluster), "must be 1 to 64 characters of letters, digits, '-' and '_'");
        Check(Shards is >= 1 and <= 65_536, nameof(Shards), "must be between 1 and 65536");
        Check(IdleTimeout > TimeSpan.Zero, nameof(IdleTimeout), "must be positive");
        Check(CollectionInterval > TimeSpan.Zero, nameof(CollectionInterval), "must be positive");
        Check(RenewInterval > TimeSpan.Zero, nameof(RenewInterval), "must be positive");
        Check(LeaseTtl >= RenewInterval * 2, nameof(LeaseTtl), "must be at least twice RenewInterval");
        Check(BalanceInterval > TimeSpan.Zero && BalanceInterval <= RenewInterval, nameof(BalanceInterval), "must be positive and at most RenewInterval");
        Check(SiloDeadAfter > BalanceInterval * 2, nameof(SiloDeadAfter), "must be more than twice BalanceInterval");
        Check(ReminderInterval > TimeSpan.Zero, nameof(ReminderInterval), "must be positive");
        Check(MinReminderPeriod > TimeSpan.Zero, nameof(MinReminderPeriod), "must be positive");
        Check(CallTimeout > TimeSpan.Zero, nameof(CallTimeout), "must be positive");
        Check(ShardConcurrency >= 1, nameof(ShardConcurrency), "must be at least 1");
        Check(SiloName.Length <= 60 && !SiloName.Any(char.IsWhiteSpace), nameof(SiloName), "must be at most 60 characters without spaces");
        return this;

        static void Check(bool ok, string name, string rule)
        {
            if (!ok)
            {
                throw new ArgumentException($"{Section}:{name} {rule}.", name);
            }
        }
    }
}
