using System.Net;

namespace Trellis.Grpc.Client.Internal;

/// <summary>A request body holding one pre-framed message (unary and server-streaming calls).</summary>
/// <remarks>
/// The frame is a plain array rather than a pooled one: the handler may serialize content again when it retries
/// a request refused by the server, so the bytes must stay valid until the request is gone.
/// </remarks>
internal sealed class FramedMessageContent : HttpContent
{
    private readonly byte[] _frame;

    public FramedMessageContent(byte[] frame)
    {
        _frame = frame;
        Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => stream.WriteAsync(_frame).AsTask();

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        => stream.WriteAsync(_frame, cancellationToken).AsTask();

    // No content-length: like other gRPC clients, let END_STREAM mark the end.
    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}

/// <summary>A request body written message by message while the call runs (client- and duplex-streaming calls).</summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingRequestContent()
    {
        Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
    }

    /// <summary>Completes when the handler starts sending the body and hands over the request stream.</summary>
    public Task<Stream> StreamTask => _stream.Task;

    /// <summary>Ends the body: the handler then sends END_STREAM.</summary>
    public void Complete() => _complete.TrySetResult();

    public void Abort() => _complete.TrySetCanceled();

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _stream.TrySetResult(stream);
        using var registration = cancellationToken.Register(static state => ((TaskCompletionSource)state!).TrySetCanceled(), _complete);
        await _complete.Task.ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
