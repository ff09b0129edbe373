using System.Text;

namespace Trellis.Edge.Local.Internal;

/// <summary>The request line and the headers the local API server acts on.</summary>
/// <param name="TraceParent">The W3C <c>traceparent</c> header, passed on to the cluster with a call; null when absent.</param>
internal sealed record HttpHead(string Method, string Target, long ContentLength, bool KeepAlive, bool ExpectContinue, string? TraceParent = null);

/// <summary>A request the server refuses before it reaches the router: answered with <see cref="Status"/> and closed.</summary>
internal sealed class HttpRefusal(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>Parses an HTTP/1.1 request head (RFC 9112 §2-§6), strictly: what it cannot read for sure it refuses.</summary>
internal static class HttpHeadParser
{
    public const int MaxHeadBytes = 16 * 1024;
    public const int MaxHeaders = 100;

    /// <summary>The longest <c>traceparent</c> kept (version 00 has 55 characters; later versions may add fields).</summary>
    private const int MaxTraceParent = 256;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>The head at the start of <paramref name="buffer"/>, or null while it is incomplete;
    /// <see cref="HttpRefusal"/> for a head that is malformed (400), too large (431), chunked (411) or not HTTP/1.x (505).</summary>
    public static HttpHead? TryParse(ReadOnlySpan<byte> buffer, out int consumed)
    {
        consumed = 0;
        var end = buffer.IndexOf(EndOfHead);
        if (end < 0)
        {
            if (buffer.Length >= MaxHeadBytes)
            {
                throw new HttpRefusal(431, $"the request head is larger than {MaxHeadBytes} bytes");
            }

            // A line that cannot be a request line is refused early rather than after 16 KiB of garbage.
            var firstLine = buffer.IndexOf((byte)'\n');
            if (firstLine >= 0 && (firstLine == 0 || buffer[firstLine - 1] != '\r') && buffer[..firstLine].Trim((byte)'\r').Length > 0)
            {
                throw new HttpRefusal(400, "the request line does not end with CRLF");
            }

            return null;
        }

        if (end + 4 > MaxHeadBytes)
        {
            throw new HttpRefusal(431, $"the request head is larger than {MaxHeadBytes} bytes");
        }

        consumed = end + 4;
        foreach (var b in buffer[..end])
        {
            if ((b < 0x20 && b is not (byte)'\r' and not (byte)'\n' and not (byte)'\t') || b == 0x7F)
            {
                throw new HttpRefusal(400, "the request head contains a control character");
            }
        }

        var lines = Encoding.Latin1.GetString(buffer[..end]).Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || !IsToken(parts[0]))
        {
            throw new HttpRefusal(400, "the request line is not 'METHOD /path HTTP/1.1'");
        }

        var version = parts[2];
        if (version is not ("HTTP/1.1" or "HTTP/1.0"))
        {
            throw version.StartsWith("HTTP/", StringComparison.Ordinal)
                ? new HttpRefusal(505, $"{version} is not supported; use HTTP/1.1")
                : new HttpRefusal(400, "the request line is not 'METHOD /path HTTP/1.1'");
        }

        var target = parts[1];
        if (target.Length == 0 || target[0] != '/')
        {
            throw new HttpRefusal(400, $"the request target must be a path starting with '/', not '{Shorten(target)}'");
        }

        if (lines.Length - 1 > MaxHeaders)
        {
            throw new HttpRefusal(431, $"the request has more than {MaxHeaders} headers");
        }

        long contentLength = 0;
        var sawLength = false;
        var keepAlive = version == "HTTP/1.1";
        var expectContinue = false;
        string? traceParent = null;
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            var colon = line.IndexOf(':');
            if (colon <= 0 || !IsToken(line.AsSpan(0, colon)))
            {
                throw new HttpRefusal(400, $"header line {i} is not 'Name: value'");
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(' ', '\t');
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Length is 0 or > 18 || !value.All(char.IsAsciiDigit))
                {
                    throw new HttpRefusal(400, $"Content-Length '{Shorten(value)}' is not a number");
                }

                var length = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                if (sawLength && length != contentLength)
                {
                    throw new HttpRefusal(400, "the request has two different Content-Length headers");
                }

                contentLength = length;
                sawLength = true;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                throw new HttpRefusal(411, "chunked (Transfer-Encoding) request bodies are not supported; send the body with a Content-Length");
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var option in value.Split(','))
                {
                    var o = option.Trim();
                    if (o.Equals("close", StringComparison.OrdinalIgnoreCase))
                    {
                        keepAlive = false;
                    }
                    else if (o.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) && version == "HTTP/1.0")
                    {
                        keepAlive = true;
                    }
                }
            }
            else if (name.Equals("Expect", StringComparison.OrdinalIgnoreCase) && value.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
            {
                expectContinue = true;
            }
            else if (name.Equals("traceparent", StringComparison.OrdinalIgnoreCase) && value.Length is > 0 and <= MaxTraceParent)
            {
                // Passed through as text; the gateway parses it (and ignores one that is malformed).
                traceParent = value;
            }
        }

        return new HttpHead(parts[0], target, contentLength, keepAlive, expectContinue, traceParent);
    }

    /// <summary>Splits a target into its path and its URL-decoded query (<c>+</c> is a space; a repeated name keeps
    /// the last value).</summary>
    public static (string Path, Dictionary<string, string> Query) SplitTarget(string target)
    {
        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        var mark = target.IndexOf('?');
        if (mark < 0)
        {
            return (target, query);
        }

        foreach (var pair in target[(mark + 1)..].Split('&'))
        {
            if (pair.Length == 0)
            {
                continue;
            }

            var eq = pair.IndexOf('=');
            var name = Decode(eq < 0 ? pair : pair[..eq]);
            if (name.Length > 0)
            {
                query[name] = eq < 0 ? "" : Decode(pair[(eq + 1)..]);
            }
        }

        return (target[..mark], query);
    }

    private static string Decode(string text) => Uri.UnescapeDataString(text.Replace('+', ' '));

    private static bool IsToken(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)))
            {
                return false;
            }
        }

        return true;
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
