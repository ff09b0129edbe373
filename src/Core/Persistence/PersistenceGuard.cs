using System.Runtime.CompilerServices;

namespace Trellis.Core.Persistence;

/// <summary>Argument checks shared by every store, so all of them reject bad input alike with an ArgumentException naming the parameter.</summary>
public static class PersistenceGuard
{
    // Bounded so a (type, key) or (type, key, name) index entry stays under PostgreSQL's b-tree row limit (~2.7 kB)
    // even with three UTF-8 bytes per character.
    public const int MaxGrainTypeLength = 200;
    public const int MaxGrainKeyLength = 500;
    public const int MaxNameLength = 100;
    public const int MaxOwnerLength = 200;
    public const int MaxAddressLength = 500;

    public static void Grain(string grainType, string grainKey)
    {
        Text(grainType, MaxGrainTypeLength);
        Text(grainKey, MaxGrainKeyLength);
    }

    /// <summary>Checks an identifier: present, not too long, and without NUL (PostgreSQL text cannot hold it).</summary>
    public static void Text(string value, int maxLength, [CallerArgumentExpression(nameof(value))] string? paramName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, paramName);
        if (value.Length > maxLength)
        {
            throw new ArgumentException($"Must be at most {maxLength} characters long (was {value.Length}).", paramName);
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Must not contain a NUL character.", paramName);
        }
    }

    public static void Version(long expectedVersion, [CallerArgumentExpression(nameof(expectedVersion))] string? paramName = null)
    {
        if (expectedVersion < 0)
        {
            throw new ArgumentOutOfRangeException(paramName, expectedVersion, "A state version is never negative; a grain with no state has version 0.");
        }
    }

    public static void State(ReadOnlyMemory<byte> state, int maxStateBytes, [CallerArgumentExpression(nameof(state))] string? paramName = null)
    {
        if (state.Length > maxStateBytes)
        {
            throw new ArgumentException($"State of {state.Length} bytes exceeds the limit of {maxStateBytes} bytes (Trellis:Storage:Grains:MaxStateBytes).", paramName);
        }
    }

    public static void Fence(FenceToken fence, [CallerArgumentExpression(nameof(fence))] string? paramName = null)
    {
        if (fence.Shard < 0)
        {
            throw new ArgumentOutOfRangeException(paramName, fence.Shard, "The fence's shard must not be negative.");
        }

        if (string.IsNullOrEmpty(fence.Owner))
        {
            throw new ArgumentException("The fence must name the lease owner.", paramName);
        }

        Text(fence.Owner, MaxOwnerLength, paramName);
    }

    public static void Shard(int shard, [CallerArgumentExpression(nameof(shard))] string? paramName = null)
    {
        if (shard < 0)
        {
            throw new ArgumentOutOfRangeException(paramName, shard, "A shard number must not be negative.");
        }
    }

    public static void Ttl(TimeSpan ttl, [CallerArgumentExpression(nameof(ttl))] string? paramName = null)
    {
        // Millisecond granularity is what the SQL stores keep; a sub-millisecond lease could never be held.
        if (ttl < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(paramName, ttl, "A lease ttl must be at least one millisecond.");
        }
    }

    public static void Lease(Lease lease, [CallerArgumentExpression(nameof(lease))] string? paramName = null)
    {
        ArgumentNullException.ThrowIfNull(lease, paramName);
        if (lease.Shard < 0 || string.IsNullOrEmpty(lease.Owner))
        {
            throw new ArgumentException("The lease must name a shard and an owner.", paramName);
        }
    }

    public static void Reminder(ReminderEntry reminder, [CallerArgumentExpression(nameof(reminder))] string? paramName = null)
    {
        ArgumentNullException.ThrowIfNull(reminder, paramName);
        Text(reminder.GrainType, MaxGrainTypeLength, paramName);
        Text(reminder.GrainKey, MaxGrainKeyLength, paramName);
        Text(reminder.Name, MaxNameLength, paramName);

        if (reminder.Shard < 0)
        {
            throw new ArgumentOutOfRangeException(paramName, reminder.Shard, "A reminder's shard must not be negative.");
        }

        if (reminder.Period <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(paramName, reminder.Period, "A reminder's period must be positive.");
        }
    }

    public static void ShardRange(int fromShard, int toShard)
    {
        Shard(fromShard);
        if (toShard < fromShard)
        {
            throw new ArgumentOutOfRangeException(nameof(toShard), toShard, $"The range end must not be below its start ({fromShard}).");
        }
    }
}
