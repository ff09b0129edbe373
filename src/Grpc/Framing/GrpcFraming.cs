using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace Trellis.Grpc.Framing;

/// <summary>The outcome of looking for one length-prefixed message in a buffer.</summary>
public enum FrameReadStatus
{
    /// <summary>A whole message is available.</summary>
    Complete,

    /// <summary>More bytes are needed.</summary>
    NeedMoreData,

    /// <summary>The length prefix exceeds the allowed message size.</summary>
    TooLarge,

    /// <summary>The compressed-flag byte is neither 0 nor 1.</summary>
    InvalidFlag,
}

/// <summary>Length-Prefixed-Message framing: a compressed-flag byte, a 4-byte big-endian length, then the message.</summary>
/// <remarks>DATA frame boundaries have no relation to message boundaries, so readers work on a ReadOnlySequence.</remarks>
public static class GrpcFraming
{
    public const int HeaderSize = 5;

    /// <summary>Default per-message limit, as in grpc-dotnet's MethodOptions.</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>Finds the next frame; on <see cref="FrameReadStatus.Complete"/> <paramref name="consumed"/> marks the end of it.</summary>
    public static FrameReadStatus TryReadFrame(
        in ReadOnlySequence<byte> buffer,
        long maxMessageSize,
        out bool compressed,
        out ReadOnlySequence<byte> payload,
        out SequencePosition consumed)
    {
        compressed = false;
        payload = default;
        consumed = buffer.Start;
        if (buffer.Length < HeaderSize)
        {
            return FrameReadStatus.NeedMoreData;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        var flag = header[0];
        if (flag > 1)
        {
            return FrameReadStatus.InvalidFlag;
        }

        compressed = flag == 1;
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (length > maxMessageSize)
        {
            return FrameReadStatus.TooLarge;
        }

        if (buffer.Length - HeaderSize < length)
        {
            return FrameReadStatus.NeedMoreData;
        }

        payload = buffer.Slice(HeaderSize, length);
        consumed = payload.End;
        return FrameReadStatus.Complete;
    }

    /// <summary>Writes one uncompressed message straight into the output, with no intermediate copy.</summary>
    public static void WriteMessage(IBufferWriter<byte> output, IMessage message)
    {
        var length = message.CalculateSize();
        WriteHeader(output, compressed: false, (uint)length);
        if (length > 0)
        {
            message.WriteTo(output);
        }
    }

    /// <summary>Writes one message of a known size, gzip-compressing it when <paramref name="compression"/> is gzip.</summary>
    public static void WriteMessage(IBufferWriter<byte> output, IMessage message, int length, string? compression)
    {
        if (compression is null || compression == GrpcCompression.Identity)
        {
            WriteHeader(output, compressed: false, (uint)length);
            if (length > 0)
            {
                message.WriteTo(output);
            }

            return;
        }

        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            message.WriteTo(rented.AsSpan(0, length));
            using var compressedBytes = GrpcCompression.Compress(compression, rented.AsSpan(0, length));
            var data = compressedBytes.Written;
            WriteHeader(output, compressed: true, (uint)data.Length);
            output.Write(data);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public static void WriteHeader(IBufferWriter<byte> output, bool compressed, uint length)
    {
        var span = output.GetSpan(HeaderSize);
        span[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], length);
        output.Advance(HeaderSize);
    }
}
