using System.Collections;

namespace Trellis.Grpc;

/// <summary>gRPC custom metadata (request headers, response headers or trailers); keys ending in "-bin" carry bytes.</summary>
public sealed class Metadata : IReadOnlyList<Metadata.Entry>
{
    /// <summary>Suffix that marks a binary key; its values travel base64-encoded.</summary>
    public const string BinarySuffix = "-bin";

    private readonly List<Entry> _entries = [];

    public int Count => _entries.Count;

    public Entry this[int index] => _entries[index];

    /// <summary>Adds an ASCII value; the key is lower-cased, as HTTP/2 header names are.</summary>
    public Metadata Add(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var normalized = NormalizeKey(key);
        if (IsBinaryKey(normalized))
        {
            throw new ArgumentException($"Key '{normalized}' ends in '{BinarySuffix}' and therefore needs a byte[] value.", nameof(key));
        }

        foreach (var c in value)
        {
            // Header values must be printable ASCII (spec: ASCII-Value = 1*( %x20-%x7E )).
            if (c < 0x20 || c > 0x7E)
            {
                throw new ArgumentException($"Value of '{normalized}' contains a character outside printable ASCII.", nameof(value));
            }
        }

        _entries.Add(new Entry(normalized, value, null));
        return this;
    }

    /// <summary>Adds a binary value; the key must end in "-bin".</summary>
    public Metadata Add(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var normalized = NormalizeKey(key);
        if (!IsBinaryKey(normalized))
        {
            throw new ArgumentException($"Key '{normalized}' carries bytes and therefore must end in '{BinarySuffix}'.", nameof(key));
        }

        _entries.Add(new Entry(normalized, null, value));
        return this;
    }

    /// <summary>The last string value for a key, or null.</summary>
    public string? GetValue(string key)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return _entries[i].Value;
            }
        }

        return null;
    }

    /// <summary>The last binary value for a key, or null.</summary>
    public byte[]? GetValueBytes(string key)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return _entries[i].ValueBytes;
            }
        }

        return null;
    }

    /// <summary>Every value of a key, in the order received.</summary>
    public IEnumerable<Entry> GetAll(string key)
    {
        foreach (var entry in _entries)
        {
            if (string.Equals(entry.Key, key, StringComparison.OrdinalIgnoreCase))
            {
                yield return entry;
            }
        }
    }

    public bool Remove(string key) => _entries.RemoveAll(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase)) > 0;

    public List<Entry>.Enumerator GetEnumerator() => _entries.GetEnumerator();

    IEnumerator<Entry> IEnumerable<Entry>.GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _entries.GetEnumerator();

    public static bool IsBinaryKey(string key) => key.EndsWith(BinarySuffix, StringComparison.OrdinalIgnoreCase);

    private static string NormalizeKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var normalized = key.ToLowerInvariant();
        foreach (var c in normalized)
        {
            // Header-Name per the spec: 1*( %x30-39 / %x61-7A / "_" / "-" / ".") after lower-casing.
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.'))
            {
                throw new ArgumentException($"Metadata key '{key}' contains '{c}'; only 0-9 a-z _ - . are allowed.", nameof(key));
            }
        }

        return normalized;
    }

    /// <summary>One metadata entry: a string value, or bytes for a "-bin" key.</summary>
    public readonly record struct Entry(string Key, string? Value, byte[]? ValueBytes)
    {
        public bool IsBinary => ValueBytes is not null;

        public override string ToString() => IsBinary ? $"{Key}: <{ValueBytes!.Length} bytes>" : $"{Key}: {Value}";
    }
}
