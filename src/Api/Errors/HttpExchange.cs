using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Trellis.Core.Errors;

namespace Trellis.Api.Errors;

/// <summary>What the flows and edge HTTP APIs share for reading a request and writing a JSON answer: a bounded body,
/// a query parameter given at most once, and a JSON response nobody caches.</summary>
internal static class HttpExchange
{
    /// <summary>Reads the body into memory, refusing (413) a declared or actual length over <paramref name="maxBytes"/>.
    /// Empty is returned as empty: whether that is allowed is the caller's rule.</summary>
    public static async Task<MemoryStream> ReadBodyAsync(HttpContext context, int maxBytes)
    {
        var request = context.Request;
        if (request.ContentLength is { } length && length > maxBytes)
        {
            throw ApiException.PayloadTooLarge($"request body is {length} bytes; the limit is {maxBytes}");
        }

        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                await buffer.DisposeAsync();
                throw ApiException.PayloadTooLarge($"request body is larger than the limit of {maxBytes} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer;
    }

    /// <summary>The query parameter <paramref name="name"/>, or null; a 400 when it is given more than once.</summary>
    public static string? Query(HttpContext context, string name)
    {
        if (!context.Request.Query.TryGetValue(name, out var values) || values.Count == 0)
        {
            return null;
        }

        return values.Count > 1
            ? throw TrellisException.Invalid($"the query parameter {name} is given {values.Count} times; give it once")
            : values[0];
    }

    /// <summary>Answers <paramref name="status"/> with the JSON <paramref name="write"/> produces.</summary>
    public static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        await using (var writer = new Utf8JsonWriter(response.BodyWriter, ResponseJson.WriterOptions))
        {
            write(writer);
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
