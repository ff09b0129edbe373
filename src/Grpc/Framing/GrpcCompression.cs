using System.Buffers;
using System.IO.Compression;

namespace Trellis.Grpc.Framing;

/// <summary>Message compression (grpc-encoding): identity and gzip, the two every gRPC implementation speaks.</summary>
public static class GrpcCompression
{
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string Identity = "identity";
    public const string Gzip = "gzip";

    /// <summary>Value of grpc-accept-encoding that we send.</summary>
    public const string SupportedEncodings = "identity,gzip";

    public static bool IsSupported(string encoding) => encoding is Identity or Gzip;

    /// <summary>True when a grpc-accept-encoding value lists the given encoding.</summary>
    public static bool Accepts(string? acceptEncoding, string encoding)
    {
        if (string.IsNullOrEmpty(acceptEncoding))
        {
            return false;
        }

        foreach (var range in acceptEncoding.AsSpan().Split(','))
        {
            if (acceptEncoding.AsSpan()[range].Trim().Equals(encoding, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Compresses into a pooled buffer the caller disposes.</summary>
    public static PooledBuffer Compress(string encoding, ReadOnlySpan<byte> data)
    {
        if (encoding != Gzip)
        {
            throw new ArgumentException($"Unsupported grpc-encoding '{encoding}'.", nameof(encoding));
        }

        var output = new PooledBuffer(Math.Max(64, data.Length / 2));
        using (var gzip = new GZipStream(output.AsStream(), CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output;
    }

    /// <summary>
    /// Decompresses a message, stopping as soon as it grows past <paramref name="maxSize"/>: returns null then,
    /// so a small compressed bomb cannot allocate more than the limit.
    /// </summary>
    public static PooledBuffer? Decompress(string encoding, in ReadOnlySequence<byte> data, long maxSize)
    {
        if (encoding != Gzip)
        {
            throw new ArgumentException($"Unsupported grpc-encoding '{encoding}'.", nameof(encoding));
        }

        var compressed = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, data.Length));
        var output = new PooledBuffer(Math.Max(256, (int)Math.Min(maxSize, data.Length * 4)));
        try
        {
            data.CopyTo(compressed);
            using var source = new MemoryStream(compressed, 0, (int)data.Length, writable: false);
            using var gzip = new GZipStream(source, CompressionMode.Decompress);
            while (true)
            {
                var span = output.GetSpan(4096);
                var read = gzip.Read(span);
                if (read == 0)
                {
                    break;
                }

                output.Advance(read);
                if (output.Length > maxSize)
                {
                    output.Dispose();
                    return null;
                }
            }

            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }
}
