using System.Security.Cryptography;
using System.Text;
using Trellis.Core.Topics;
using Trellis.Core.Transport;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>How the kernel's topology maps onto AMQP names: binding keys for glob patterns and queue names.</summary>
internal static class Topology
{
    /// <summary>AMQP short strings (queue names, routing and binding keys) hold at most 255 bytes.</summary>
    public const int MaxNameBytes = 255;

    private const string SharedNamePrefix = "trellis";

    /// <summary>The AMQP binding key that receives at least every topic <paramref name="pattern"/> matches.</summary>
    /// <remarks>
    /// Our <c>*</c> matches any run of characters, dots included, while AMQP's <c>*</c> is exactly one word,
    /// so it cannot be used. Whole literal words before the first word holding a <c>*</c> and after the last
    /// one are kept; everything between becomes <c>#</c> (zero or more words). That is a superset: a topic
    /// matching the glob starts with the literal head and ends with the literal tail, each ending or starting
    /// at a dot. <c>#</c> also matches zero words, so "a.#" receives "a" itself; the bus filters the extra
    /// deliveries (<see cref="Core.Bus.Subscription"/> matches every topic it is handed).
    /// </remarks>
    public static string BindingKey(string pattern)
    {
        var first = pattern.IndexOf(TopicRules.Wildcard);
        if (first < 0)
        {
            return pattern;
        }

        var last = pattern.LastIndexOf(TopicRules.Wildcard);

        // The head ends at the dot before the word holding the first star; the tail starts at the dot
        // after the word holding the last one.
        var headEnd = pattern.LastIndexOf('.', first);
        var tailStart = pattern.IndexOf('.', last);
        var head = headEnd < 0 ? ReadOnlySpan<char>.Empty : pattern.AsSpan(0, headEnd + 1);
        var tail = tailStart < 0 ? ReadOnlySpan<char>.Empty : pattern.AsSpan(tailStart);
        return string.Concat(head, "#", tail);
    }

    /// <summary>The queue name for a spec under a topology prefix, hashed when it would pass 255 bytes.</summary>
    /// <remarks>Every process computes the same name, so the members of a group meet on one queue.</remarks>
    public static string QueueName(string prefix, QueueSpec spec)
    {
        var shared = spec.SharedName;
        var name = string.Equals(prefix, SharedNamePrefix, StringComparison.Ordinal)
            ? shared
            : string.Concat(prefix, shared.AsSpan(SharedNamePrefix.Length));
        return Shorten(name);
    }

    /// <summary>Keeps a readable head of a long name and makes it unique with a hash of the whole name.</summary>
    public static string Shorten(string name)
    {
        var bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes <= MaxNameBytes)
        {
            return name;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        var suffix = string.Concat("~", Convert.ToHexStringLower(hash[..16]));

        // Cut the head at a character boundary so the name stays valid UTF-8.
        var budget = MaxNameBytes - suffix.Length;
        var used = 0;
        var cut = 0;
        foreach (var rune in name.EnumerateRunes())
        {
            if (used + rune.Utf8SequenceLength > budget)
            {
                break;
            }

            used += rune.Utf8SequenceLength;
            cut += rune.Utf16SequenceLength;
        }

        return string.Concat(name.AsSpan(0, cut), suffix);
    }
}
