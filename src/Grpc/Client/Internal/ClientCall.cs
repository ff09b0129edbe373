using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Trellis.Grpc.Framing;
using Trellis.Grpc.Internal;

namespace Trellis.Grpc.Client.Internal;

internal interface IClientCall : IDisposable
{
    Task<Metadata> ResponseHeadersAsync();

    Status GetStatus();

    Metadata GetTrailers();

    void Cancel();
}

/// <summary>One client call on an HTTP/2 stream: sends the request, reads messages, and takes the status from trailers or a trailers-only response.</summary>
internal sealed class ClientCall<TRequest, TResponse> : IClientCall, IClientStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private const long Http2Cancel = 0x8;
    private const long Http2RefusedStream = 0x7;
    private const string HttpDeadlineDetail = "Deadline Exceeded";

    private readonly GrpcChannel _channel;
    private readonly GrpcMethod<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _cts = new();
    private readonly Lock _sync = new();
    private CancellationTokenRegistration _userRegistration;
    private ITimer? _deadlineTimer;
    private volatile bool _deadlineExceeded;
    private volatile bool _disposed;
    private HttpRequestMessage? _request;
    private Task<HttpResponseMessage>? _sendTask;
    private Task? _responseTask;
    private HttpResponseMessage? _response;
    private MessageReader? _reader;
    private GrpcException? _startFailure;
    private Status? _status;
    private Metadata? _trailers;
    private StreamingRequestContent? _streamingContent;
    private bool _requestCompleted;
    private bool _writePending;

    public ClientCall(GrpcChannel channel, GrpcMethod<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
    }

    private string? Compression => _channel.Options.RequestCompression is { } c && c != GrpcCompression.Identity ? c : null;

    public void StartWithMessage(TRequest message)
    {
        byte[] frame;
        try
        {
            if (Compression is null)
            {
                // Size known up front: serialize straight into the one array the request body will send.
                var size = CheckSize(message);
                frame = GC.AllocateUninitializedArray<byte>(GrpcFraming.HeaderSize + size);
                frame[0] = 0;
                BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)size);
                message.WriteTo(frame.AsSpan(GrpcFraming.HeaderSize));
            }
            else
            {
                using var buffer = new PooledBuffer();
                WriteFrame(buffer, message);
                frame = buffer.Written.ToArray();
            }
        }
        catch (GrpcException ex)
        {
            _startFailure = ex;
            _status = ex.Status;
            _trailers = new Metadata();
            return;
        }

        Start(new FramedMessageContent(frame));
    }

    public IClientStreamWriter<TRequest> StartStreaming()
    {
        _streamingContent = new StreamingRequestContent();
        Start(_streamingContent);
        return this;
    }

    public async Task<Metadata> ResponseHeadersAsync()
    {
        await EnsureResponseAsync().ConfigureAwait(false);
        var metadata = new Metadata();
        if (_response is not null)
        {
            MetadataHeaders.AddHttpHeaders(metadata, _response.Headers);
        }

        return metadata;
    }

    public Status GetStatus() => _status ?? throw new InvalidOperationException("Unable to get the status because the call is not complete.");

    public Metadata GetTrailers() => _status is null
        ? throw new InvalidOperationException("Unable to get the trailers because the call is not complete.")
        : _trailers ?? new Metadata();

    /// <summary>The next response message; null after the last one when the status is OK; throws for any other status.</summary>
    public async ValueTask<TResponse?> ReadNextAsync()
    {
        await EnsureResponseAsync().ConfigureAwait(false);
        if (_reader is null || _status is not null)
        {
            // Trailers-only response, or the call already ended.
            var status = _status.GetValueOrDefault();
            return status.StatusCode == StatusCode.OK ? null : throw new GrpcException(status, _trailers);
        }

        TResponse? message;
        try
        {
            message = await _reader.ReadAsync(_method.ResponseParser, _cts.Token).ConfigureAwait(false);
        }
        catch (GrpcException ex)
        {
            // A framing or size error found here: the call is over for us, so stop the stream.
            Finish(ex.Status, new Metadata());
            Abort();
            throw;
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }

        if (message is not null)
        {
            return message;
        }

        // End of stream: trailers are now available.
        var trailers = _response!.TrailingHeaders;
        var final = TryReadStatus(trailers, out var fromTrailers)
            ? fromTrailers
            : new Status(StatusCode.Internal, "No grpc-status found on response.");
        var metadata = new Metadata();
        MetadataHeaders.AddHttpHeaders(metadata, trailers);
        Finish(final, metadata);
        return final.StatusCode == StatusCode.OK ? null : throw new GrpcException(final, metadata);
    }

    public async Task<TResponse> ReadSingleResponseAsync()
    {
        var message = await ReadNextAsync().ConfigureAwait(false);
        if (message is null)
        {
            // The server said OK but sent no message: for the caller that is a failed call.
            var status = new Status(StatusCode.Internal, "Failed to deserialize response message.");
            Finish(status, _trailers, replace: true);
            throw new GrpcException(status, _trailers);
        }

        if (await ReadNextAsync().ConfigureAwait(false) is not null)
        {
            var status = new Status(StatusCode.Internal, "Unary response carried more than one message.");
            Finish(status, new Metadata(), replace: true);
            Abort();
            throw new GrpcException(status);
        }

        return message;
    }

    public async ValueTask WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_sync)
        {
            if (_requestCompleted)
            {
                throw new InvalidOperationException("Request stream has already been completed.");
            }

            if (_writePending)
            {
                throw new InvalidOperationException("A write is already in progress; await it before writing again.");
            }

            _writePending = true;
        }

        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => ((IClientCall)state!).Cancel(), this)
            : default;
        using var frame = new PooledBuffer();
        try
        {
            ThrowIfEnded();
            WriteFrame(frame, message);
            var stream = await GetRequestStreamAsync().ConfigureAwait(false);
            await stream.WriteAsync(frame.WrittenMemory, _cts.Token).ConfigureAwait(false);
            await stream.FlushAsync(_cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not GrpcException and not InvalidOperationException)
        {
            throw await WriteFailedAsync(ex).ConfigureAwait(false);
        }
        finally
        {
            lock (_sync)
            {
                _writePending = false;
            }
        }
    }

    public ValueTask CompleteAsync()
    {
        lock (_sync)
        {
            if (_writePending)
            {
                throw new InvalidOperationException("A write is in progress; await it before completing the request stream.");
            }

            _requestCompleted = true;
        }

        _streamingContent?.Complete();
        return ValueTask.CompletedTask;
    }

    public void Cancel()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_status is null)
        {
            Cancel();
        }

        _deadlineTimer?.Dispose();
        _userRegistration.Dispose();
        _streamingContent?.Abort();
        _response?.Dispose();
        _request?.Dispose();
    }

    private void Start(HttpContent content)
    {
        var clock = _channel.Options.TimeProvider;
        var request = new HttpRequestMessage(HttpMethod.Post, _channel.GetUri(_method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };

        var headers = request.Headers;
        headers.TryAddWithoutValidation("TE", "trailers");
        headers.TryAddWithoutValidation("User-Agent", _channel.Options.UserAgent);
        headers.TryAddWithoutValidation(GrpcCompression.AcceptEncodingHeader, GrpcCompression.SupportedEncodings);
        if (Compression is { } compression)
        {
            headers.TryAddWithoutValidation(GrpcCompression.EncodingHeader, compression);
        }

        if (_options.Headers is { } metadata)
        {
            MetadataHeaders.WriteTo(metadata, headers);
        }

        if (_options.Deadline is { } deadline)
        {
            var remaining = deadline - clock.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                _deadlineExceeded = true;
                _startFailure = new GrpcException(StatusCode.DeadlineExceeded, HttpDeadlineDetail);
                _status = _startFailure.Status;
                _trailers = new Metadata();
                request.Dispose();
                return;
            }

            headers.TryAddWithoutValidation(GrpcTimeout.HeaderName, GrpcTimeout.Format(remaining));
            var due = remaining < GrpcTimeout.MaxTimeout ? remaining : GrpcTimeout.MaxTimeout;
            _deadlineTimer = clock.CreateTimer(static state => ((ClientCall<TRequest, TResponse>)state!).OnDeadline(), this, due, Timeout.InfiniteTimeSpan);
        }

        if (_options.CancellationToken.CanBeCanceled)
        {
            _userRegistration = _options.CancellationToken.UnsafeRegister(static state => ((IClientCall)state!).Cancel(), this);
        }

        _request = request;
        _sendTask = _channel.Invoker.SendAsync(request, _cts.Token);
    }

    private void OnDeadline()
    {
        _deadlineExceeded = true;
        Cancel();
    }

    private Task EnsureResponseAsync()
    {
        lock (_sync)
        {
            return _responseTask ??= GetResponseAsync();
        }
    }

    private async Task GetResponseAsync()
    {
        if (_startFailure is not null)
        {
            throw _startFailure;
        }

        HttpResponseMessage response;
        try
        {
            response = await _sendTask!.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }

        _response = response;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var code = (int)response.StatusCode;
            throw FinishWithError(new Status(StatusMapping.FromTransportHttpStatus(code), $"Bad gRPC response. HTTP status code: {code}"), response.Headers);
        }

        if (TryReadStatus(response.Headers, out var trailersOnly))
        {
            var metadata = new Metadata();
            MetadataHeaders.AddHttpHeaders(metadata, response.Headers);
            Finish(trailersOnly, metadata);
            return;
        }

        var contentType = response.Content.Headers.ContentType?.MediaType;
        if (contentType is null || !contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
        {
            throw FinishWithError(new Status(StatusCode.Internal, $"Bad gRPC response. Invalid content-type value: {contentType}"), response.Headers);
        }

        string? encoding = null;
        if (response.Headers.TryGetValues(GrpcCompression.EncodingHeader, out var encodings))
        {
            encoding = encodings.FirstOrDefault();
            if (encoding is not null && !GrpcCompression.IsSupported(encoding))
            {
                throw FinishWithError(new Status(StatusCode.Internal, $"Unsupported grpc-encoding value '{encoding}' in response."), response.Headers);
            }
        }

        Stream body;
        try
        {
            body = await response.Content.ReadAsStreamAsync(_cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }

        _reader = new MessageReader(PipeReader.Create(body), _channel.Options.MaxReceiveMessageSize, encoding);
    }

    private async ValueTask<Stream> GetRequestStreamAsync()
    {
        var streamTask = _streamingContent!.StreamTask;
        if (!streamTask.IsCompleted)
        {
            // The response may end the call before the handler asks for the body (e.g. an immediate error).
            await Task.WhenAny(streamTask, _sendTask!).ConfigureAwait(false);
            if (!streamTask.IsCompleted)
            {
                await EnsureResponseAsync().ConfigureAwait(false);
                ThrowIfEnded();
                await streamTask.WaitAsync(_cts.Token).ConfigureAwait(false);
            }
        }

        return await streamTask.ConfigureAwait(false);
    }

    private async ValueTask<Exception> WriteFailedAsync(Exception exception)
    {
        // A write fails when the server has already ended the call: report its status rather than the I/O error.
        if (_sendTask is { IsCompleted: true } && _status is null)
        {
            try
            {
                await EnsureResponseAsync().ConfigureAwait(false);
            }
            catch (GrpcException ex)
            {
                return ex;
            }
        }

        if (_status is { } status && status.StatusCode != StatusCode.OK)
        {
            return new GrpcException(status, _trailers, exception);
        }

        return Fail(exception);
    }

    private void ThrowIfEnded()
    {
        if (_status is { } status)
        {
            throw status.StatusCode == StatusCode.OK
                ? new InvalidOperationException("Can't write the message because the call is complete.")
                : new GrpcException(status, _trailers);
        }
    }

    private void WriteFrame(PooledBuffer buffer, TRequest message) => GrpcFraming.WriteMessage(buffer, message, CheckSize(message), Compression);

    private int CheckSize(TRequest message)
    {
        var size = message.CalculateSize();
        if (_channel.Options.MaxSendMessageSize is { } max && size > max)
        {
            throw new GrpcException(StatusCode.ResourceExhausted, "Sending message exceeds the maximum configured message size.");
        }

        return size;
    }

    private GrpcException FinishWithError(Status status, HttpHeaders headers)
    {
        var metadata = new Metadata();
        MetadataHeaders.AddHttpHeaders(metadata, headers);
        Finish(status, metadata);
        Abort();
        return new GrpcException(status, metadata);
    }

    private GrpcException Fail(Exception exception)
    {
        lock (_sync)
        {
            if (_status is { } existing)
            {
                return new GrpcException(existing, _trailers, exception);
            }
        }

        Status status;
        if (_deadlineExceeded)
        {
            status = new Status(StatusCode.DeadlineExceeded, HttpDeadlineDetail);
        }
        else if (_options.CancellationToken.IsCancellationRequested || _disposed || _cts.IsCancellationRequested)
        {
            status = new Status(StatusCode.Cancelled, "Call canceled by the client.");
        }
        else if (FindHttp2ErrorCode(exception) is { } code)
        {
            status = code switch
            {
                Http2Cancel => new Status(StatusCode.Cancelled, "The server reset the stream (CANCEL)."),
                Http2RefusedStream => new Status(StatusCode.Unavailable, "The server refused the stream (REFUSED_STREAM)."),
                _ => new Status(StatusCode.Internal, $"The server reset the stream with HTTP/2 error code {code}."),
            };
        }
        else
        {
            status = new Status(StatusCode.Unavailable, $"Error talking to the server: {exception.GetType().Name}: {exception.Message}");
        }

        Finish(status, new Metadata());
        Abort();
        return new GrpcException(status, _trailers, exception);
    }

    private void Finish(Status status, Metadata? trailers, bool replace = false)
    {
        lock (_sync)
        {
            if (_status is not null && !replace)
            {
                return;
            }

            _status = status;
            _trailers = trailers ?? new Metadata();
        }

        _deadlineTimer?.Dispose();
        _userRegistration.Dispose();
    }

    private void Abort()
    {
        Cancel();
        _streamingContent?.Abort();
    }

    private static long? FindHttp2ErrorCode(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is HttpProtocolException protocol)
            {
                return protocol.ErrorCode;
            }
        }

        return null;
    }

    private static bool TryReadStatus(HttpHeaders headers, out Status status)
    {
        status = default;
        if (!headers.NonValidated.TryGetValues(MetadataHeaders.StatusHeader, out var values))
        {
            return false;
        }

        string? raw = null;
        foreach (var value in values)
        {
            raw = value;
            break;
        }

        if (!int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code))
        {
            status = new Status(StatusCode.Unknown, $"Unexpected grpc-status value '{raw}'.");
            return true;
        }

        var detail = string.Empty;
        if (headers.NonValidated.TryGetValues(MetadataHeaders.MessageHeader, out var messages))
        {
            foreach (var message in messages)
            {
                detail = PercentEncoding.Decode(message);
                break;
            }
        }

        status = new Status((StatusCode)code, detail);
        return true;
    }
}
