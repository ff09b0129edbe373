using System.Buffers;
using System.Text;

namespace Trellis.Grpc.Framing;

/// <summary>Percent-encoding of grpc-message: UTF-8 bytes outside 0x20–0x7E, and '%', become %XX (PROTOCOL-HTTP2.md).</summary>
public static class PercentEncoding
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var firstToEncode = -1;
        for (var i = 0; i < value.Length; i++)
        {
            if (NeedsEncoding(value[i]))
            {
                firstToEncode = i;
                break;
            }
        }

        if (firstToEncode < 0)
        {
            return value;
        }

        var maxBytes = Encoding.UTF8.GetMaxByteCount(value.Length);
        var rented = ArrayPool<byte>.Shared.Rent(maxBytes);
        try
        {
            var count = Encoding.UTF8.GetBytes(value, rented);
            var builder = new StringBuilder(value.Length + 16);
            for (var i = 0; i < count; i++)
            {
                var b = rented[i];
                if (b < 0x20 || b > 0x7E || b == (byte)'%')
                {
                    builder.Append('%').Append(HexUpper(b >> 4)).Append(HexUpper(b & 0xF));
                }
                else
                {
                    builder.Append((char)b);
                }
            }

            return builder.ToString();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Decodes leniently: a malformed %-sequence stays as it is, and bytes that are not UTF-8 leave the value undecoded.</summary>
    public static string Decode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.Contains('%'))
        {
            return value;
        }

        var rented = ArrayPool<byte>.Shared.Rent(value.Length);
        try
        {
            var count = 0;
            for (var i = 0; i < value.Length; i++)
            {
                var c = value[i];
                if (c == '%' && i + 2 < value.Length && TryHex(value[i + 1], out var hi) && TryHex(value[i + 2], out var lo))
                {
                    rented[count++] = (byte)((hi << 4) | lo);
                    i += 2;
                }
                else if (c > 0x7F)
                {
                    // Not valid on the wire; keep the original text rather than guessing.
                    return value;
                }
                else
                {
                    rented[count++] = (byte)c;
                }
            }

            try
            {
                return StrictUtf8.GetString(rented, 0, count);
            }
            catch (DecoderFallbackException)
            {
                return value;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool NeedsEncoding(char c) => c < 0x20 || c > 0x7E || c == '%';

    private static char HexUpper(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'A' + nibble - 10);

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
