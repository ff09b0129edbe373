using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Trellis.Api.Errors;

namespace Trellis.Api.Apps;

/// <summary>Writes the JSON answers of the apps API.</summary>
internal static class AppsJson
{
    public static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> value)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        await using (var writer = new Utf8JsonWriter(response.BodyWriter, ResponseJson.WriterOptions))
        {
            value(writer);
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
