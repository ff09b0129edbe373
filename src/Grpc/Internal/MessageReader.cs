using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Internal;

/// <summary>Reads length-prefixed messages from a pipe and parses them without copying uncompressed payloads.</summary>
/// <remarks><paramref name="malformed"/> is the status for input that cannot be framed, inflated or parsed: a server
/// answers INVALID_ARGUMENT (the client sent it, so the client must fix it), a client reports INTERNAL (its server broke
/// the protocol), as grpc-dotnet's client does.</remarks>
internal sealed class MessageReader(PipeReader reader, long maxMessageSize, string? encoding, StatusCode malformed = StatusCode.Internal)
{
    public const string IncompleteMessage = "Incomplete message.";
    public const string AdditionalData = "Additional data after the message received.";
    public const string MessageTooLarge = "Received message exceeds the maximum configured message size.";

    private bool _endOfStream;

    public bool EndOfStream => _endOfStream;

    /// <summary>The next message, or null at a clean end of stream.</summary>
    public async ValueTask<T?> ReadAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        if (_endOfStream)
        {
            return null;
        }

        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            switch (GrpcFraming.TryReadFrame(buffer, maxMessageSize, out var compressed, out var payload, out var consumed))
            {
                case FrameReadStatus.Complete:
                    T message;
                    try
                    {
                        message = Parse(parser, compressed, payload);
                    }
                    finally
                    {
                        reader.AdvanceTo(consumed);
                    }

                    if (result.IsCompleted && buffer.Slice(consumed).IsEmpty)
                    {
                        _endOfStream = true;
                    }

                    return message;

                case FrameReadStatus.TooLarge:
                    reader.AdvanceTo(buffer.Start);
                    throw new GrpcException(StatusCode.ResourceExhausted, MessageTooLarge);

                case FrameReadStatus.InvalidFlag:
                    reader.AdvanceTo(buffer.Start);
                    throw new GrpcException(malformed, "Invalid compressed-flag byte in message prefix.");

                default:
                    if (result.IsCompleted)
                    {
                        reader.AdvanceTo(buffer.End);
                        _endOfStream = true;
                        if (buffer.IsEmpty)
                        {
                            return null;
                        }

                        throw new GrpcException(malformed, IncompleteMessage);
                    }

                    reader.AdvanceTo(buffer.Start, buffer.End);
                    break;
            }
        }
    }

    /// <summary>For single-message streams: the stream must end right after the message.</summary>
    public async ValueTask EnsureEndAsync(CancellationToken cancellationToken)
    {
        if (_endOfStream)
        {
            return;
        }

        while (true)
        {
            // An empty DATA frame without END_STREAM is legal, so keep reading until the end is seen.
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            reader.AdvanceTo(buffer.End);
            if (!buffer.IsEmpty)
            {
                throw new GrpcException(malformed, AdditionalData);
            }

            if (result.IsCompleted)
            {
                _endOfStream = true;
                return;
            }
        }
    }

    private T Parse<T>(MessageParser<T> parser, bool compressed, in ReadOnlySequence<byte> payload)
        where T : class, IMessage<T>
    {
        if (!compressed)
        {
            return ParseOrThrow(parser, payload);
        }

        if (encoding is null || encoding == GrpcCompression.Identity)
        {
            throw new GrpcException(
                malformed,
                encoding is null
                    ? "Compressed message received without a grpc-encoding header."
                    : "Compressed message received with grpc-encoding 'identity'.");
        }

        PooledBuffer? decompressed;
        try
        {
            decompressed = GrpcCompression.Decompress(encoding, payload, maxMessageSize);
        }
        catch (InvalidDataException ex)
        {
            throw new GrpcException(new Status(malformed, "Failed to decompress message: " + ex.Message), null, ex);
        }

        using var owned = decompressed ?? throw new GrpcException(StatusCode.ResourceExhausted, MessageTooLarge);
        return ParseOrThrow(parser, new ReadOnlySequence<byte>(owned.WrittenMemory));
    }

    private T ParseOrThrow<T>(MessageParser<T> parser, in ReadOnlySequence<byte> payload)
        where T : class, IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new GrpcException(new Status(malformed, $"Failed to deserialize the {typeof(T).Name} message: {ex.Message}"), null, ex);
        }
    }
}
