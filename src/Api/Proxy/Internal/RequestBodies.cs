using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Trellis.Api.Errors;
using Trellis.Core.Errors;

namespace Trellis.Api.Proxy.Internal;

/// <summary>Reads a request body as one JSON object, refusing wrong media types (415), big bodies (413) and bad JSON (400).</summary>
internal static class RequestBodies
{
    /// <summary>Deep enough for any real message; deeper input is refused instead of costing stack.</summary>
    public const int MaxDepth = 64;

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = MaxDepth };

    public static async Task<JsonDocument> ReadObjectAsync(HttpContext context, int maxBytes)
    {
        var request = context.Request;
        CheckContentType(request.ContentType);
        if (request.ContentLength is { } declared && declared > maxBytes)
        {
            throw ApiException.PayloadTooLarge($"request body is {declared} bytes; the limit is {maxBytes} (Trellis:Nodes:MaxBodyBytes)");
        }

        var body = await ReadAsync(request.Body, maxBytes, request.ContentLength, context.RequestAborted);
        if (IsBlank(body))
        {
            throw TrellisException.Invalid("request body is empty; send a JSON object");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, Options);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"request body is not valid JSON: {e.Message}");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = JsonFields.Describe(document.RootElement);
            document.Dispose();
            throw TrellisException.Invalid($"request body must be a JSON object, not {kind}");
        }

        return document;
    }

    private static void CheckContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            throw ApiException.UnsupportedMediaType("Content-Type is missing; send the body as application/json");
        }

        if (!MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            throw ApiException.UnsupportedMediaType("Content-Type is malformed; send the body as application/json");
        }

        var type = media.MediaType.Value ?? "";
        var json = type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
        if (!json)
        {
            throw ApiException.UnsupportedMediaType($"Content-Type {Printable(type)} is not supported; send the body as application/json");
        }

        var charset = media.Charset.Value;
        if (charset is { Length: > 0 } && !charset.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Trim('"').Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.UnsupportedMediaType($"charset {Printable(charset)} is not supported; JSON bodies are UTF-8");
        }
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
