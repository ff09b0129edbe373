using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Trellis.Grpc.Framing;
using Trellis.Grpc.Internal;

namespace Trellis.Grpc.Server.Internal;

/// <summary>One gRPC call on an HTTP/2 stream: reads requests, writes responses, and writes the status exactly once.</summary>
/// <remarks>
/// A call with a deadline can be completed from the timer thread while the handler still runs, so writes and
/// completion then go through one async lock and a state flag; calls without a deadline skip the lock.
/// </remarks>
internal sealed class HttpServerCall : ServerCallContext, IDisposable
{
    public const string DeadlineExceededDetail = "Deadline Exceeded";

    private const int Running = 0;
    private const int Completed = 1;

    // How long the deadline path waits for an in-flight write (whose flush it has just cancelled) to let go.
    private static readonly TimeSpan DeadlineLockTimeout = TimeSpan.FromSeconds(5);

    private readonly HttpContext _httpContext;
    private readonly ServerRuntime _runtime;
    private readonly string _method;
    private CancellationToken _token;
    private CancellationTokenSource? _deadlineCts;
    private ITimer? _deadlineTimer;
    private SemaphoreSlim? _lock;
    private DateTimeOffset? _deadline;
    private Metadata? _requestHeaders;
    private string? _peer;
    private string? _responseEncoding;
    private int _state;
    private volatile bool _deadlineExceeded;
    private bool _headersWritten;
    private bool _messageWritten;
    private bool _writing;

    public HttpServerCall(HttpContext httpContext, ServerRuntime runtime, string method)
    {
        _httpContext = httpContext;
        _runtime = runtime;
        _method = method;
        _token = httpContext.RequestAborted;
    }

    public MessageReader Reader { get; private set; } = null!;

    public override string Method => _method;

    public override string Peer => _peer ??= ServerProtocol.FormatPeer(_httpContext);

    public override DateTimeOffset? Deadline => _deadline;

    public override CancellationToken CancellationToken => _token;

    public override Metadata RequestHeaders => _requestHeaders ??= MetadataHeaders.FromHeaders(_httpContext.Request.Headers);

    public override HttpContext HttpContext => _httpContext;

    private long MaxSendSize => _runtime.Options.MaxSendMessageSize ?? int.MaxValue;

    /// <summary>Reads the call's headers; false when the call was already answered (unsupported grpc-encoding).</summary>
    public bool TryStart()
    {
        var request = _httpContext.Request;
        var encoding = SingleValue(request.Headers[GrpcCompression.EncodingHeader]);
        if (encoding is not null && !GrpcCompression.IsSupported(encoding))
        {
            // doc/compression.md: UNIMPLEMENTED, and our grpc-accept-encoding must not list the rejected encoding.
            var response = _httpContext.Response;
            response.Headers[GrpcCompression.AcceptEncodingHeader] = GrpcCompression.SupportedEncodings;
            ServerProtocol.WriteTrailersOnly(
                response,
                new Status(StatusCode.Unimplemented, $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: identity, gzip"));
            _state = Completed;
            return false;
        }

        Reader = new MessageReader(request.BodyReader, _runtime.Options.MaxReceiveMessageSize, encoding, StatusCode.InvalidArgument);

        var algorithm = _runtime.Options.ResponseCompressionAlgorithm;
        if (algorithm is not null && algorithm != GrpcCompression.Identity
            && GrpcCompression.Accepts(request.Headers[GrpcCompression.AcceptEncodingHeader], algorithm))
        {
            _responseEncoding = algorithm;
        }

        var timeout = SingleValue(request.Headers[GrpcTimeout.HeaderName]);
        if (timeout is not null && GrpcTimeout.TryParse(timeout, out var duration))
        {
            StartDeadline(duration);
        }

        return true;
    }

    public override async ValueTask WriteResponseHeadersAsync()
    {
        await EnterAsync(_token).ConfigureAwait(false);
        try
        {
            ThrowIfCompleted();
            EnsureHeaders();
            await _httpContext.Response.StartAsync(_token).ConfigureAwait(false);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Writes one streamed message and flushes it.</summary>
    public async ValueTask WriteMessageAsync(IMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var token = cancellationToken.CanBeCanceled ? cancellationToken : _token;
        await EnterAsync(token).ConfigureAwait(false);
        try
        {
            ThrowIfCompleted();
            token.ThrowIfCancellationRequested();
            WriteFrame(message);
            await _httpContext.Response.BodyWriter.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Writes the single response message and the OK status; Kestrel sends both when the request ends.</summary>
    public async ValueTask CompleteWithMessageAsync(IMessage message)
    {
        if (message is null)
        {
            throw new InvalidOperationException($"The handler of {_method} returned no response message.");
        }

        await EnterAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_state != Running)
            {
                return;
            }

            if (_deadlineExceeded)
            {
                // The handler finished after the deadline fired but before the timer thread got here.
                _state = Completed;
                WriteStatus(new Status(StatusCode.DeadlineExceeded, DeadlineExceededDetail), null);
                return;
            }

            WriteFrame(message);
            _state = Completed;
            WriteStatus(Status.DefaultSuccess, null);
        }
        finally
        {
            Exit();
        }
    }

    public async ValueTask CompleteAsync(Status status, Metadata? trailers)
    {
        await EnterAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_state != Running)
            {
                return;
            }

            _state = Completed;

            // Once the deadline has fired the outcome is DEADLINE_EXCEEDED, whatever the handler did afterwards.
            WriteStatus(_deadlineExceeded ? new Status(StatusCode.DeadlineExceeded, DeadlineExceededDetail) : status, trailers);
        }
        finally
        {
            Exit();
        }
    }

    public ValueTask CompleteWithExceptionAsync(Exception exception)
    {
        var logger = _runtime.Logger;
        Status status;
        Metadata? trailers = null;
        if (exception is GrpcException grpc && !(_deadlineExceeded && grpc.StatusCode == StatusCode.Cancelled))
        {
            status = grpc.Status;
            trailers = grpc.Trailers;
            ServerLog.CallFailed(logger, _method, status.StatusCode, status.Detail);
        }
        else if (_deadlineExceeded)
        {
            status = new Status(StatusCode.DeadlineExceeded, DeadlineExceededDetail);
        }
        else if (_httpContext.RequestAborted.IsCancellationRequested)
        {
            ServerLog.CallCancelled(logger, _method);
            status = new Status(StatusCode.Cancelled, "Call canceled by the client.");
        }
        else
        {
            ServerLog.HandlerFailed(logger, StatusCode.Unknown, _method, exception);
            var detail = _runtime.Options.EnableDetailedErrors
                ? $"Exception was thrown by handler. {exception.GetType().Name}: {exception.Message}"
                : "Exception was thrown by handler.";
            status = new Status(StatusCode.Unknown, detail);
        }

        return CompleteAsync(status, trailers);
    }

    public void Dispose()
    {
        // Whatever path ended the call, a deadline callback that fires late must find nothing left to do.
        Volatile.Write(ref _state, Completed);
        _deadlineTimer?.Dispose();

        // The deadline callback may still be running; it tolerates a disposed source and sees the call completed.
        _deadlineCts?.Dispose();
    }

    private static string? SingleValue(StringValues values) => values.Count == 0 || string.IsNullOrEmpty(values[0]) ? null : values[0];

    private void StartDeadline(TimeSpan timeout)
    {
        var clock = _runtime.Options.TimeProvider;
        _deadline = clock.GetUtcNow() + timeout;
        _lock = new SemaphoreSlim(1, 1);
        _deadlineCts = CancellationTokenSource.CreateLinkedTokenSource(_httpContext.RequestAborted);
        _token = _deadlineCts.Token;
        _deadlineTimer = clock.CreateTimer(static state => _ = ((HttpServerCall)state!).DeadlineExceededAsync(), this, timeout, Timeout.InfiniteTimeSpan);
    }

    private async Task DeadlineExceededAsync()
    {
        if (Volatile.Read(ref _state) != Running)
        {
            return;
        }

        _deadlineExceeded = true;
        ServerLog.DeadlineExceeded(_runtime.Logger, _method, _deadline.GetValueOrDefault());
        try
        {
            // Cancelling first releases a write that waits on flow control while holding the lock.
            _deadlineCts!.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        var entered = await _lock!.WaitAsync(DeadlineLockTimeout).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _state) != Running)
            {
                return;
            }

            _state = Completed;
            if (entered)
            {
                // PROTOCOL-HTTP2.md: send the status, then RST_STREAM(CANCEL) so the client stops sending.
                WriteStatus(new Status(StatusCode.DeadlineExceeded, DeadlineExceededDetail), null);
                await _httpContext.Response.CompleteAsync().ConfigureAwait(false);
            }

            Reset();
        }
        catch (Exception ex)
        {
            ServerLog.DeadlineWriteFailed(_runtime.Logger, _method, ex);
            Reset();
        }
        finally
        {
            if (entered)
            {
                _lock.Release();
            }
        }
    }

    private void Reset()
    {
        const int Http2Cancel = 0x8;
        try
        {
            var reset = _httpContext.Features.Get<IHttpResetFeature>();
            if (reset is not null)
            {
                reset.Reset(Http2Cancel);
            }
            else
            {
                _httpContext.Abort();
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // The stream already ended on its own; there is nothing left to reset.
            ServerLog.DeadlineWriteFailed(_runtime.Logger, _method, ex);
        }
    }

    private ValueTask EnterAsync(CancellationToken cancellationToken)
    {
        if (_lock is not null)
        {
            var wait = _lock.WaitAsync(cancellationToken);
            if (!wait.IsCompletedSuccessfully)
            {
                return new ValueTask(EnterSlowAsync(wait));
            }
        }

        return EnterUnlocked();
    }

    private async Task EnterSlowAsync(Task wait)
    {
        await wait.ConfigureAwait(false);
        await EnterUnlocked().ConfigureAwait(false);
    }

    private ValueTask EnterUnlocked()
    {
        if (_writing)
        {
            _lock?.Release();
            return ValueTask.FromException(new InvalidOperationException("A write is already in progress; await it before writing again."));
        }

        _writing = true;
        return ValueTask.CompletedTask;
    }

    private void Exit()
    {
        _writing = false;
        _lock?.Release();
    }

    private void ThrowIfCompleted()
    {
        if (_state == Running)
        {
            return;
        }

        if (_deadlineExceeded)
        {
            throw new GrpcException(StatusCode.DeadlineExceeded, DeadlineExceededDetail);
        }

        throw new InvalidOperationException("Can't write the message because the call is complete.");
    }

    private void WriteFrame(IMessage message)
    {
        var size = message.CalculateSize();
        if (size > MaxSendSize)
        {
            throw new GrpcException(StatusCode.ResourceExhausted, "Sending message exceeds the maximum configured message size.");
        }

        EnsureHeaders();
        GrpcFraming.WriteMessage(_httpContext.Response.BodyWriter, message, size, _responseEncoding);
        _messageWritten = true;
    }

    private void EnsureHeaders()
    {
        if (_headersWritten)
        {
            return;
        }

        _headersWritten = true;
        var headers = _httpContext.Response.Headers;
        headers[GrpcCompression.AcceptEncodingHeader] = GrpcCompression.SupportedEncodings;
        if (_responseEncoding is not null)
        {
            headers[GrpcCompression.EncodingHeader] = _responseEncoding;
        }

        if (ResponseHeadersOrNull is { } metadata)
        {
            MetadataHeaders.WriteTo(metadata, headers);
        }
    }

    private void WriteStatus(in Status status, Metadata? trailers)
    {
        var response = _httpContext.Response;
        IHeaderDictionary destination;
        if (!_messageWritten && !response.HasStarted)
        {
            // Trailers-Only: nothing was sent yet, so the status travels in the only HEADERS frame.
            EnsureHeaders();
            destination = response.Headers;
        }
        else
        {
            destination = _httpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers
                ?? throw new InvalidOperationException("The server does not support response trailers, which gRPC requires.");
        }

        // User trailers first, the status last (grpc-dotnet ConsolidateTrailers).
        if (ResponseTrailersOrNull is { } userTrailers)
        {
            MetadataHeaders.WriteTo(userTrailers, destination);
        }

        if (trailers is not null)
        {
            MetadataHeaders.WriteTo(trailers, destination);
        }

        ServerProtocol.SetStatus(destination, status);
    }
}
