using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Trellis.Api.Errors;
using Trellis.Core.Errors;

namespace Trellis.Api.Proxy.Internal;

/// <summary>Reads a request body as one JSON object, whatever its declared Content-Type; refuses a declared charset other
/// than UTF-8 (415), big bodies (413) and bad JSON (400).</summary>
/// <remarks>The media type is not checked because the API's users are shell one-liners as much as programs: <c>curl -d</c>
/// declares <c>application/x-www-form-urlencoded</c> unless told otherwise, and a body that is not JSON is refused anyway,
/// naming the problem (and the declared type when it is not JSON).</remarks>
internal static class RequestBodies
{
    /// <summary>Deep enough for any real message; deeper input is refused instead of costing stack.</summary>
    public const int MaxDepth = 64;

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = MaxDepth };

    public static async Task<JsonDocument> ReadObjectAsync(HttpContext context, int maxBytes)
    {
        var request = context.Request;
        var declared = InspectContentType(request.ContentType);
        if (request.ContentLength is { } length && length > maxBytes)
        {
            throw ApiException.PayloadTooLarge($"request body is {length} bytes; the limit is {maxBytes} (Trellis:Nodes:MaxBodyBytes)");
        }

        var body = await ReadAsync(request.Body, maxBytes, request.ContentLength, context.RequestAborted);
        if (IsBlank(body))
        {
            throw TrellisException.Invalid("request body is empty; send a JSON object");
        }

        // JSON is UTF-8 (RFC 8259 §8.1), and System.Text.Json checks a string's bytes only when it is read: a property
        // name with bad bytes would parse, then fail deep in a handler. Refuse it here, naming the place.
        if (System.Text.Unicode.Utf8.IsValid(body.Span) is false)
        {
            var at = FirstInvalidUtf8(body.Span);
            throw TrellisException.Invalid($"request body is not valid UTF-8 (at byte {at}); JSON bodies are UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException e)
        {
            var sentAs = declared is null ? "" : $" (sent as {Printable(declared)}; bodies are read as JSON whatever their Content-Type)";
            throw TrellisException.Invalid($"request body is not valid JSON{sentAs}: {e.Message}");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = JsonFields.Describe(document.RootElement);
            document.Dispose();
            throw TrellisException.Invalid($"request body must be a JSON object, not {kind}");
        }

        return document;
    }

    /// <summary>Refuses a declared charset other than UTF-8 (JSON is UTF-8, RFC 8259 §8.1: reading such a body as UTF-8
    /// would silently change its text); returns the declared media type when it is not a JSON one, else null.</summary>
    private static string? InspectContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType) || !MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return contentType is { Length: > 0 } ? contentType : null;
        }

        var charset = media.Charset.Value?.Trim('"');
        if (charset is { Length: > 0 } && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.UnsupportedMediaType($"charset {Printable(charset)} is not supported; JSON bodies are UTF-8");
        }

        var type = media.MediaType.Value ?? "";
        var json = type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
        return json ? null : type;
    }

    private static async Task<ReadOnlyMemory<byte>> ReadAsync(Stream body, int maxBytes, long? declared, CancellationToken cancellationToken)
    {
        // Sized by a small Content-Length (one byte over, to notice a longer body) rather than 16 KB zeroed per request;
        // never more than 16 KB up front, so a large declared length costs memory only as its bytes arrive.
        var initial = Math.Min(maxBytes + 1, 16 * 1024);
        var buffer = new byte[declared is { } size && size < initial ? (int)size + 1 : initial];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > maxBytes)
                {
                    throw ApiException.PayloadTooLarge($"request body is larger than the limit of {maxBytes} bytes (Trellis:Nodes:MaxBodyBytes)");
                }

                Array.Resize(ref buffer, (int)Math.Min((long)maxBytes + 1, buffer.Length * 2L));
            }

            var read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        if (length > maxBytes)
        {
            throw ApiException.PayloadTooLarge($"request body is larger than the limit of {maxBytes} bytes (Trellis:Nodes:MaxBodyBytes)");
        }

        return buffer.AsMemory(0, length);
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var status = System.Text.Unicode.Utf8.ToUtf16(bytes, new char[bytes.Length], out var read, out _, replaceInvalidSequences: false);
        return status == System.Buffers.OperationStatus.Done ? bytes.Length : read;
    }

    private static bool IsBlank(ReadOnlyMemory<byte> body)
    {
        foreach (var b in body.Span)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Printable(string text) => JsonFields.Quote(text);
}
