using System.Text;
using Trellis.Core.Errors;

namespace Trellis.Core.Grains;

/// <summary>The identity of a grain: its type (which class handles it) and its key (which one of them).</summary>
/// <remarks>
/// A grain is always addressable by its id: a call activates it on demand wherever its shard is owned. The text form
/// is <c>type/key</c>; the key may itself contain slashes (app paths such as <c>app/chat/room-1</c>).
/// </remarks>
public readonly record struct GrainId
{
    /// <summary>Longest type name, in characters.</summary>
    public const int MaxTypeLength = 100;

    /// <summary>Longest key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 400;

    private GrainId(string type, string key)
    {
        Type = type;
        Key = key;
    }

    public string Type { get; }

    public string Key { get; }

    /// <summary>Creates an id after checking both parts; throws INVALID_ARGUMENT naming the bad part.</summary>
    public static GrainId Create(string type, string key)
    {
        ValidateType(type);
        ValidateKey(key);
        return new GrainId(type, key);
    }

    /// <summary>Parses <c>type/key</c>.</summary>
    public static GrainId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == text.Length - 1)
        {
            throw TrellisException.Invalid($"grain id '{Shorten(text)}' must look like 'type/key'");
        }

        return Create(text[..slash], text[(slash + 1)..]);
    }

    /// <summary>The shard this grain belongs to among <paramref name="shardCount"/> (stable across processes and runs).</summary>
    public int ShardOf(int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);

        // FNV-1a over "type/key" in UTF-16 code units: stable, cheap, and well spread for short keys.
        var hash = 2166136261u;
        hash = Mix(hash, Type);
        hash = (hash ^ '/') * 16777619u;
        hash = Mix(hash, Key);
        return (int)(hash % (uint)shardCount);

        static uint Mix(uint hash, string text)
        {
            foreach (var c in text)
            {
                hash = (hash ^ c) * 16777619u;
            }

            return hash;
        }
    }

    public override string ToString() => $"{Type}/{Key}";

    /// <summary>Checks a grain type name: 1 to 100 characters of a-z, 0-9, '.', '-' and '_', starting with a letter.</summary>
    public static void ValidateType(string type)
    {
        if (string.IsNullOrEmpty(type) || type.Length > MaxTypeLength || !char.IsAsciiLetterLower(type[0]))
        {
            throw TrellisException.Invalid($"grain type '{Shorten(type)}' must be 1 to {MaxTypeLength} characters starting with a lowercase letter");
        }

        foreach (var c in type)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-' or '_'))
            {
                throw TrellisException.Invalid($"grain type '{Shorten(type)}' may only hold a-z, 0-9, '.', '-' and '_'");
            }
        }
    }

    /// <summary>Checks a grain key: 1 to 400 UTF-8 bytes, no control characters.</summary>
    public static void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw TrellisException.Invalid("grain key must not be empty");
        }

        if (key.Length > MaxKeyBytes || Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
        {
            throw TrellisException.Invalid($"grain key '{Shorten(key)}' is longer than {MaxKeyBytes} UTF-8 bytes");
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                throw TrellisException.Invalid($"grain key '{Shorten(key)}' holds a control character");
            }
        }
    }

    private static string Shorten(string? text) =>
        text is null ? "" : text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 60), "...");
}
