using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Trellis.Api.Errors;
using Trellis.Grains.Apps;

namespace Trellis.Api.Apps;

/// <summary>Writes a watch as Server-Sent Events: <c>watch-ack</c>, <c>fact</c> and <c>kick</c> events, and keep-alive
/// comments while nothing happens.</summary>
internal sealed class WatchStream(HttpResponse response, AppWatch watch, TimeSpan keepAlive)
{
    private static readonly byte[] KeepAlive = ": keep-alive\n\n"u8.ToArray();

    /// <summary>Streams until the watch is kicked or <paramref name="cancellationToken"/> fires (client gone or left).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(cancellationToken);
        var reader = watch.Events;
        try
        {
            while (true)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                tick.CancelAfter(keepAlive);
                bool more;
                try
                {
                    more = await reader.WaitToReadAsync(tick.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await response.Body.WriteAsync(KeepAlive, cancellationToken);
                    await response.Body.FlushAsync(cancellationToken);
                    continue;
                }

                if (!more)
                {
                    return;
                }

                while (reader.TryRead(out var e))
                {
                    await response.Body.WriteAsync(Format(e), cancellationToken);
                }

                await response.Body.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client closed the stream or left the watch.
        }
    }

    private byte[] Format(AppWatchEvent e)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ResponseJson.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("app", e.App);
            w.WriteString("path", e.Path);
            if (e.Kind == "watch-ack")
            {
                w.WriteString("subscriber", watch.Subscriber);
            }

            if (e.Data is { } data)
            {
                w.WritePropertyName("data");
                data.WriteTo(w);
            }

            w.WriteEndObject();
        }

        // Compact JSON has no newlines, so each event is one data line.
        return [.. Encoding.UTF8.GetBytes($"event: {e.Kind}\ndata: "), .. buffer.ToArray(), .. "\n\n"u8];
    }
}
