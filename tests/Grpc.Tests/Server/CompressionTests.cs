using System.IO.Compression;
using Google.Protobuf;
using Trellis.Grpc.Client;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Server;

public sealed class GzipServerFixture : ServerFixture
{
    protected override void Configure(GrpcServerOptions options) => options.ResponseCompressionAlgorithm = "gzip";
}

/// <summary>grpc-encoding: gzip both ways, and the compression error cases of doc/compression.md.</summary>
public sealed class CompressionTests(GzipServerFixture fixture) : IClassFixture<GzipServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private GrpcTestHost Host => fixture.Host;

    [Fact]
    public async Task Gzip_requests_and_responses_round_trip()
    {
        using var channel = GrpcChannel.ForAddress(Host.GrpcAddress, new GrpcChannelOptions { RequestCompression = "gzip" });
        var payload = ByteString.CopyFrom(Enumerable.Repeat((byte)'z', 100_000).ToArray());
        using var call = channel.Unary(TesterService.Unary, new TestRequest { Message = "zip", Payload = payload }, new CallOptions(cancellationToken: Ct));

        var reply = await call.ResponseAsync;
        var headers = await call.ResponseHeadersAsync;

        Assert.Equal(payload, reply.Payload);
        Assert.Equal("gzip", headers.GetValue("grpc-encoding") ?? (await RawResponseEncodingAsync()));

        using var stream = channel.DuplexStreaming(TesterService.Duplex, new CallOptions(cancellationToken: Ct));
        await stream.RequestStream.WriteAsync(new TestRequest { Message = "a", Payload = payload }, Ct);
        await stream.RequestStream.WriteAsync(new TestRequest { Message = "b" }, Ct);
        await stream.RequestStream.CompleteAsync();
        var messages = new List<string>();
        await foreach (var item in stream.ResponseStream)
        {
            messages.Add(item.Message);
        }

        Assert.Equal(["a", "b"], messages);
    }

    [Fact]
    public async Task Response_is_gzip_compressed_on_the_wire_when_the_client_accepts_it()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { Message = "wire" }));
        request.Headers.TryAddWithoutValidation("grpc-accept-encoding", "identity, gzip");
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, _, _, body) = await RawGrpc.ReadStatusAsync(response, Ct);

        Assert.Equal(0, status);
        Assert.Equal("gzip", response.Headers.GetValues("grpc-encoding").Single());
        Assert.Equal(1, body[0]);
        using var gzip = new GZipStream(new MemoryStream(body, 5, body.Length - 5), CompressionMode.Decompress);
        Assert.Equal("wire", TestReply.Parser.ParseFrom(gzip).Message);
    }

    [Fact]
    public async Task Response_is_not_compressed_when_the_client_does_not_accept_gzip()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { Message = "plain" }));
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (_, _, _, body) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.Equal(0, body[0]);
        Assert.False(response.Headers.Contains("grpc-encoding"));
    }

    [Fact]
    public async Task Compressed_flag_without_encoding_or_with_identity_is_invalid_argument()
    {
        foreach (var encoding in new string?[] { null, "identity" })
        {
            var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { Message = "x" }, compressedFlag: true));
            if (encoding is not null)
            {
                request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
            }

            using var response = await Host.RawHttp2.SendAsync(request, Ct);
            var (status, _, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
            Assert.True(status == 3, $"grpc-encoding '{encoding}': expected INVALID_ARGUMENT (3), got {status}");
        }
    }

    [Fact]
    public async Task Unsupported_encoding_is_unimplemented_and_not_advertised()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { Message = "x" }, compressedFlag: true));
        request.Headers.TryAddWithoutValidation("grpc-encoding", "br");
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, message, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);

        Assert.Equal(12, status);
        Assert.Contains("identity, gzip", Trellis.Grpc.Framing.PercentEncoding.Decode(message!));
        var accepted = response.Headers.GetValues("grpc-accept-encoding").Single();
        Assert.DoesNotContain("br", accepted);
        Assert.Contains("gzip", accepted);
    }

    [Fact]
    public async Task Corrupt_gzip_payload_is_invalid_argument()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame([1, 2, 3, 4, 5, 6, 7, 8], compressedFlag: true));
        request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, _, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.Equal(3, status);
    }

    [Fact]
    public async Task Gzip_bomb_over_the_limit_is_resource_exhausted()
    {
        var huge = new TestRequest { Payload = ByteString.CopyFrom(new byte[5 * 1024 * 1024]) }.ToByteArray();
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(huge);
        }

        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(compressed.ToArray(), compressedFlag: true));
        request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, _, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.Equal(8, status);
    }

    private async Task<string?> RawResponseEncodingAsync()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest()));
        request.Headers.TryAddWithoutValidation("grpc-accept-encoding", "gzip");
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        return response.Headers.TryGetValues("grpc-encoding", out var values) ? values.Single() : null;
    }
}
