using System.Buffers.Text;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Internal;

/// <summary>Moves metadata between HTTP header collections and <see cref="Metadata"/>, base64 for "-bin" keys.</summary>
internal static class MetadataHeaders
{
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string StatusDetailsHeader = "grpc-status-details-bin";

    /// <summary>Headers that belong to the protocol, not to the application's metadata.</summary>
    public static bool IsProtocolHeader(string name) =>
        name.Length == 0
        || name[0] == ':'
        || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || name.Equals("te", StringComparison.OrdinalIgnoreCase)
        || name.Equals("host", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || name.Equals(GrpcTimeout.HeaderName, StringComparison.OrdinalIgnoreCase)
        || name.Equals(GrpcCompression.EncodingHeader, StringComparison.OrdinalIgnoreCase)
        || name.Equals(GrpcCompression.AcceptEncodingHeader, StringComparison.OrdinalIgnoreCase)
        || name.Equals(StatusHeader, StringComparison.OrdinalIgnoreCase)
        || name.Equals(MessageHeader, StringComparison.OrdinalIgnoreCase);

    public static Metadata FromHeaders(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers)
        {
            AddValues(metadata, name, values);
        }

        return metadata;
    }

    public static void AddHttpHeaders(Metadata metadata, HttpHeaders headers)
    {
        foreach (var (name, values) in headers.NonValidated)
        {
            foreach (var value in values)
            {
                AddValue(metadata, name, value);
            }
        }
    }

    public static void AddValues(Metadata metadata, string name, StringValues values)
    {
        foreach (var value in values)
        {
            if (value is not null)
            {
                AddValue(metadata, name, value);
            }
        }
    }

    /// <summary>Writes metadata into response headers or trailers (server side).</summary>
    public static void WriteTo(Metadata metadata, IHeaderDictionary destination)
    {
        foreach (var entry in metadata)
        {
            if (entry.Key is StatusHeader or MessageHeader)
            {
                // The status is written by the call itself, last, exactly once.
                continue;
            }

            var value = entry.IsBinary ? ToBase64(entry.ValueBytes!) : entry.Value!;
            destination.Append(entry.Key, value);
        }
    }

    /// <summary>Writes metadata into request headers (client side).</summary>
    public static void WriteTo(Metadata metadata, HttpRequestHeaders destination)
    {
        foreach (var entry in metadata)
        {
            var value = entry.IsBinary ? ToBase64(entry.ValueBytes!) : entry.Value!;
            destination.TryAddWithoutValidation(entry.Key, value);
        }
    }

    /// <summary>Base64 without padding, as the spec asks senders to emit.</summary>
    public static string ToBase64(byte[] value) => Convert.ToBase64String(value).TrimEnd('=');

    /// <summary>Accepts padded and unpadded base64, as the spec requires of receivers.</summary>
    public static bool TryFromBase64(string value, out byte[] bytes)
    {
        var trimmed = value.AsSpan().Trim().TrimEnd('=');
        var padded = (trimmed.Length % 4) switch
        {
            2 => string.Concat(trimmed, "=="),
            3 => string.Concat(trimmed, "="),
            1 => null,
            _ => trimmed.ToString(),
        };

        bytes = [];
        if (padded is null)
        {
            return false;
        }

        var buffer = new byte[Base64.GetMaxDecodedFromUtf8Length(padded.Length)];
        if (!Convert.TryFromBase64String(padded, buffer, out var written))
        {
            return false;
        }

        bytes = buffer.AsSpan(0, written).ToArray();
        return true;
    }

    private static void AddValue(Metadata metadata, string name, string value)
    {
        if (IsProtocolHeader(name))
        {
            return;
        }

        try
        {
            if (Metadata.IsBinaryKey(name))
            {
                // A peer's malformed binary header is dropped rather than failing the whole call.
                if (TryFromBase64(value, out var bytes))
                {
                    metadata.Add(name, bytes);
                }
            }
            else
            {
                metadata.Add(name, value);
            }
        }
        catch (ArgumentException)
        {
            // Header names or values that gRPC metadata cannot represent are not application metadata.
        }
    }
}
