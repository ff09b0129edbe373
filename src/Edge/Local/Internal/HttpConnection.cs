using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Trellis.Edge.Local.Internal;

/// <summary>One client connection of the local API server: reads requests (keep-alive), dispatches them to the router
/// and writes the answers. Anything a client does ends at most this connection.</summary>
internal sealed partial class HttpConnection(Socket socket, LocalRouter router, ILogger logger, CancellationToken stopping)
{
    public const int MaxBodyBytes = 4 * 1024 * 1024;

    /// <summary>How long a kept-alive connection may wait for its next request.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(2);

    /// <summary>How long a request may take to arrive once its first byte did (slow clients).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly byte[] _buffer = new byte[HttpHeadParser.MaxHeadBytes];
    private int _filled;

    public Socket Socket => socket;

    /// <summary>Serves the connection until it closes; never throws.</summary>
    public async Task RunAsync()
    {
        NetworkStream stream;
        try
        {
            stream = new NetworkStream(socket, ownsSocket: true);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            socket.Dispose();
            LogClosed(logger, e.Message);
            return;
        }

        await using (stream.ConfigureAwait(false))
        {
            await ServeAsync(stream).ConfigureAwait(false);
        }
    }

    private async Task ServeAsync(NetworkStream stream)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                if (!await ServeOneAsync(stream).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (HttpRefusal e)
        {
            LogRefused(logger, e.Status, e.Message);
            await TryWriteAsync(stream, LocalResponse.Error(e.Status, e.Message)).ConfigureAwait(false);
            await DrainAsync(stream).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            LogClosed(logger, "the client was too slow or idle too long");
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            LogClosed(logger, e.Message);
        }
        catch (Exception e)
        {
            LogFailed(logger, e);
        }
    }

    /// <summary>Reads, dispatches and answers one request; false when the connection should close.</summary>
    private async Task<bool> ServeOneAsync(NetworkStream stream)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_filled == 0 ? IdleTimeout : RequestTimeout);
        HttpHead? head;
        int consumed;
        while ((head = HttpHeadParser.TryParse(_buffer.AsSpan(0, _filled), out consumed)) is null)
        {
            var read = await stream.ReadAsync(_buffer.AsMemory(_filled), timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                if (_filled > 0)
                {
                    LogClosed(logger, $"the client went away after {_filled} bytes of a request head");
                }

                return false;
            }

            if (_filled == 0)
            {
                timeout.CancelAfter(RequestTimeout);
            }

            _filled += read;
        }

        if (head.ContentLength > MaxBodyBytes)
        {
            throw new HttpRefusal(413, $"the request body of {head.ContentLength} bytes is larger than the limit of {MaxBodyBytes} bytes");
        }

        if (head.ExpectContinue && head.ContentLength > 0)
        {
            await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
        }

        var body = head.ContentLength == 0 ? [] : new byte[head.ContentLength];
        var fromBuffer = Math.Min(_filled - consumed, body.Length);
        _buffer.AsSpan(consumed, fromBuffer).CopyTo(body);
        consumed += fromBuffer;
        _buffer.AsSpan(consumed, _filled - consumed).CopyTo(_buffer);
        _filled -= consumed;
        if (fromBuffer < body.Length)
        {
            await stream.ReadExactlyAsync(body.AsMemory(fromBuffer), timeout.Token).ConfigureAwait(false);
        }

        var (path, query) = HttpHeadParser.SplitTarget(head.Target);
        var request = new LocalRequest(head.Method.ToUpperInvariant(), path, query, body) { TraceParent = head.TraceParent };
        var response = await router.DispatchAsync(request, stopping).ConfigureAwait(false);
        if (response.Stream is not null)
        {
            await StreamAsync(stream, response).ConfigureAwait(false);
            return false;
        }

        // A client that does not read its answer holds only this connection, and only for a while.
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        writing.CancelAfter(RequestTimeout);
        await WriteAsync(stream, response, head.KeepAlive, writing.Token).ConfigureAwait(false);
        return head.KeepAlive;
    }

    /// <summary>Writes a chunked body until the producer ends or the client goes away (a read that ends tells).</summary>
    private async Task StreamAsync(NetworkStream stream, LocalResponse response)
    {
        using var gone = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var header = Head(response.Status, response.ContentType, null, keepAlive: false);
        await stream.WriteAsync(header, gone.Token).ConfigureAwait(false);
        var watch = WatchForCloseAsync(stream, gone);
        var chunked = new ChunkedWriteStream(stream);
        try
        {
            await response.Stream!(chunked, gone.Token).ConfigureAwait(false);
            await chunked.EndAsync(gone.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (gone.IsCancellationRequested)
        {
            LogClosed(logger, "the client of a streamed answer went away");
        }
        finally
        {
            await gone.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(false);
        }
    }

    private static async Task WatchForCloseAsync(NetworkStream stream, CancellationTokenSource gone)
    {
        try
        {
            var one = new byte[1];
            while (await stream.ReadAsync(one, gone.Token).ConfigureAwait(false) > 0)
            {
                // A client of a streamed answer has nothing more to say; whatever it sends is ignored.
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }

        try
        {
            await gone.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static async Task WriteAsync(Stream stream, LocalResponse response, bool keepAlive, CancellationToken cancellationToken)
    {
        var head = Head(response.Status, response.ContentType, response.Body.Length, keepAlive);
        var all = new byte[head.Length + response.Body.Length];
        head.CopyTo(all, 0);
        response.Body.CopyTo(all, head.Length);
        await stream.WriteAsync(all, cancellationToken).ConfigureAwait(false);
    }

    private async Task TryWriteAsync(Stream stream, LocalResponse response)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await WriteAsync(stream, response, keepAlive: false, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            LogClosed(logger, e.Message);
        }
    }

    /// <summary>Lingers after a refusal so a client still sending its body reads the answer instead of a reset.</summary>
    private static async Task DrainAsync(NetworkStream stream)
    {
        try
        {
            stream.Socket.Shutdown(SocketShutdown.Send);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var sink = new byte[64 * 1024];
            long total = 0;
            int read;
            while (total < 8 * MaxBodyBytes && (read = await stream.ReadAsync(sink, timeout.Token).ConfigureAwait(false)) > 0)
            {
                total += read;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
    }

    private static byte[] Head(int status, string contentType, int? length, bool keepAlive)
    {
        var text = new StringBuilder(128)
            .Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n")
            .Append("Content-Type: ").Append(contentType).Append("\r\n")
            .Append(length is { } n ? $"Content-Length: {n}\r\n" : "Transfer-Encoding: chunked\r\n")
            .Append(keepAlive ? "" : "Connection: close\r\n")
            .Append("\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Local API: refused a request with {Status}: {Reason}")]
    private static partial void LogRefused(ILogger logger, int status, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Local API: closed a connection: {Reason}")]
    private static partial void LogClosed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Local API: a connection failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
