using System.Buffers.Binary;
using System.Net;
using Google.Protobuf;

namespace Trellis.Grpc.Tests.Infrastructure;

/// <summary>Hand-made gRPC requests for checks below the level of our client (framing, headers, protocol errors).</summary>
public static class RawGrpc
{
    public static byte[] Frame(IMessage message, bool compressedFlag = false) => Frame(message.ToByteArray(), compressedFlag);

    public static byte[] Frame(byte[] payload, bool compressedFlag = false)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = compressedFlag ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    public static HttpRequestMessage Request(string path, byte[] body, string contentType = "application/grpc", Version? version = null)
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = version ?? HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        return request;
    }

    /// <summary>Reads the whole body, then returns (status, message, trailersOnly) from trailers or, if absent, from headers.</summary>
    public static async Task<(int? Status, string? Message, bool TrailersOnly, byte[] Body)> ReadStatusAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        if (response.TrailingHeaders.TryGetValues("grpc-status", out var trailerStatus))
        {
            response.TrailingHeaders.TryGetValues("grpc-message", out var trailerMessage);
            return (int.Parse(trailerStatus.Single()), trailerMessage?.SingleOrDefault(), false, body);
        }

        if (response.Headers.TryGetValues("grpc-status", out var headerStatus))
        {
            response.Headers.TryGetValues("grpc-message", out var headerMessage);
            return (int.Parse(headerStatus.Single()), headerMessage?.SingleOrDefault(), true, body);
        }

        return (null, null, false, body);
    }
}
