using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Trellis.Api.Operator.Internal;
using Trellis.Api.Errors;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Operator;

/// <summary><c>GET /errors</c>: the bus's error channel (<c>Trellis:Messaging:ErrorTopic</c>, default <c>trellis.errors</c>)
/// as Server-Sent Events, one <c>event: error</c> per report; the slot exists only while a client reads the stream.
/// <c>?recent=N</c> first sends up to N reports this process still holds in its error queue, oldest first.</summary>
internal sealed class ErrorChannel(BusHost busHost, OperatorAccess access)
{
    /// <summary>Reports held for a slow reader before newer ones are dropped (and counted in a <c>dropped</c> event).</summary>
    public const int Buffer = 1024;

    public const int MaxRecent = 1000;

    private static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(15);
    private static readonly byte[] KeepAlive = ": keep-alive\n\n"u8.ToArray();

    public async Task StreamAsync(HttpContext context)
    {
        access.Check(context, "GET /errors");
        var recent = Recent(context);
        var bus = await busHost.Started;
        var reports = Channel.CreateBounded<JsonPayload>(new BoundedChannelOptions(Buffer)
        {
            FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true,
        });
        long dropped = 0;
        await using var slot = await bus.SlotAsync(bus.Options.ErrorTopic, (signal, _) =>
        {
            if (!reports.Writer.TryWrite(signal.Data))
            {
                Interlocked.Increment(ref dropped);
            }

            return ValueTask.CompletedTask;
        }, cancellationToken: context.RequestAborted);

        var response = context.Response;
        var cancellationToken = context.RequestAborted;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(cancellationToken);
        try
        {
            var held = bus.Errors.Snapshot(recent);
            for (var i = held.Count - 1; i >= 0; i--)
            {
                await response.Body.WriteAsync(Event("error", JsonPayload.From(held[i]).ToString()), cancellationToken);
            }

            await response.Body.FlushAsync(cancellationToken);
            var reader = reports.Reader;
            while (true)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                tick.CancelAfter(KeepAliveInterval);
                try
                {
                    await reader.WaitToReadAsync(tick.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await response.Body.WriteAsync(KeepAlive, cancellationToken);
                    await response.Body.FlushAsync(cancellationToken);
                    continue;
                }

                while (reader.TryRead(out var report))
                {
                    await response.Body.WriteAsync(Event("error", report.ToString()), cancellationToken);
                }

                if (Interlocked.Exchange(ref dropped, 0) is > 0 and var lost)
                {
                    await response.Body.WriteAsync(Event("dropped", $"{{\"count\":{lost.ToString(CultureInfo.InvariantCulture)}}}"), cancellationToken);
                }

                await response.Body.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client closed the stream: the slot goes with it.
        }
    }

    private static int Recent(HttpContext context)
    {
        var text = HttpExchange.Query(context, "recent");
        if (text is null or "")
        {
            return 0;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= MaxRecent
            ? n
            : throw TrellisException.Invalid($"the query parameter recent must be a whole number from 0 to {MaxRecent}, not '{text}'");
    }

    private static byte[] Event(string name, string data) => Encoding.UTF8.GetBytes($"event: {name}\ndata: {data}\n\n");
}
