using Google.Protobuf;
using Trellis.Grpc.Client;
using Trellis.Grpc.Tests.Infrastructure;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Server;

/// <summary>The four call shapes, metadata and status delivery, end to end through our client and Kestrel.</summary>
public sealed class ServerCallTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private GrpcTestHost Host => fixture.Host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Unary_round_trips_message_and_peer()
    {
        var reply = await Host.Channel.UnaryAsync(TesterService.Unary, new TestRequest { Message = "hello" }, new CallOptions(cancellationToken: Ct));

        Assert.Equal("hello", reply.Message);
        Assert.StartsWith("ipv4:127.0.0.1:", reply.Peer);
        Assert.Equal(-1, reply.DeadlineMs);
        Host.AssertNoErrorLogs(static e => e.Exception is InvalidOperationException { Message: "secret internals" });
    }

    [Fact]
    public async Task Unary_returns_response_headers_trailers_and_ok_status()
    {
        var headers = new Metadata().Add("x-echo", "abc").Add("x-echo-bin", [0, 1, 2, 255]);
        using var call = Host.Channel.Unary(TesterService.Unary, new TestRequest { Message = "m", EchoHeader = "x-echo" }, new CallOptions(headers, cancellationToken: Ct));

        var reply = await call.ResponseAsync;
        var responseHeaders = await call.ResponseHeadersAsync;

        Assert.Equal("m", reply.Message);
        Assert.Equal("abc", responseHeaders.GetValue("x-echo"));
        Assert.Equal("abc", call.GetTrailers().GetValue("x-echo"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);

        using var binary = Host.Channel.Unary(TesterService.Unary, new TestRequest { EchoHeader = "x-echo-bin" }, new CallOptions(headers, cancellationToken: Ct));
        await binary.ResponseAsync;
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, binary.GetTrailers().GetValueBytes("x-echo-bin"));
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_in_order()
    {
        using var call = Host.Channel.ServerStreaming(TesterService.ServerStream, new TestRequest { Message = "s", Count = 50 }, new CallOptions(cancellationToken: Ct));
        var indexes = new List<int>();
        await foreach (var reply in call.ResponseStream)
        {
            indexes.Add(reply.Index);
        }

        Assert.Equal(Enumerable.Range(0, 50), indexes);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Server_streaming_with_no_messages_ends_with_trailers_only_ok()
    {
        using var call = Host.Channel.ServerStreaming(TesterService.ServerStream, new TestRequest { Count = 0 }, new CallOptions(cancellationToken: Ct));
        var count = 0;
        await foreach (var unused in call.ResponseStream)
        {
            count++;
        }

        Assert.Equal(0, count);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Client_streaming_aggregates_requests()
    {
        using var call = Host.Channel.ClientStreaming(TesterService.ClientStream, new CallOptions(cancellationToken: Ct));
        for (var i = 0; i < 20; i++)
        {
            await call.RequestStream.WriteAsync(new TestRequest { Message = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }, Ct);
        }

        await call.RequestStream.CompleteAsync();
        var reply = await Wait.ForAsync(call.ResponseAsync, "the client-streaming reply after 20 requests");

        Assert.Equal(20, reply.Index);
        Assert.Equal(string.Join(",", Enumerable.Range(0, 20)), reply.Message);
    }

    [Fact]
    public async Task Duplex_streaming_answers_each_request_before_the_next_is_sent()
    {
        using var call = Host.Channel.DuplexStreaming(TesterService.Duplex, new CallOptions(cancellationToken: Ct));
        await using var replies = call.ResponseStream.GetAsyncEnumerator(Ct);
        for (var i = 0; i < 10; i++)
        {
            await call.RequestStream.WriteAsync(new TestRequest { Message = "ping" + i }, Ct);
            Assert.True(await Wait.ForAsync(replies.MoveNextAsync(), $"reply {i} of the duplex call"), $"reply {i} expected");
            Assert.Equal("ping" + i, replies.Current.Message);
            Assert.Equal(i, replies.Current.Index);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await Wait.ForAsync(replies.MoveNextAsync(), "the end of the duplex response stream"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Error_before_any_message_is_sent_as_trailers_only()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { FailCode = 5, FailMessage = "no such thing" }));
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, message, trailersOnly, body) = await RawGrpc.ReadStatusAsync(response, Ct);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.True(trailersOnly, "status expected in the response headers (trailers-only)");
        Assert.Equal(5, status);
        Assert.Equal("no such thing", message);
        Assert.Empty(body);
        Assert.Equal("from-handler", response.Headers.GetValues("error-detail").Single());

        var error = await Assert.ThrowsAsync<GrpcException>(() => Host.Channel.UnaryAsync(TesterService.Unary, new TestRequest { FailCode = 5, FailMessage = "no such thing" }, new CallOptions(cancellationToken: Ct)));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal("no such thing", error.Detail);
        Assert.Equal("from-handler", error.Trailers.GetValue("error-detail"));
    }

    [Fact]
    public async Task Error_after_messages_is_sent_in_trailers()
    {
        var request = RawGrpc.Request(TesterService.ServerStream.FullName, RawGrpc.Frame(new TestRequest { Count = 3, FailCode = 9, FailMessage = "stop" }));
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, message, trailersOnly, body) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.False(trailersOnly, "status expected in real trailers after the messages");
        Assert.Equal(9, status);
        Assert.Equal("stop", message);
        Assert.NotEmpty(body);

        using var call = Host.Channel.ServerStreaming(TesterService.ServerStream, new TestRequest { Count = 3, FailCode = 9, FailMessage = "stop" }, new CallOptions(cancellationToken: Ct));
        var received = 0;
        var error = await Assert.ThrowsAsync<GrpcException>(async () =>
        {
            await foreach (var unused in call.ResponseStream)
            {
                received++;
            }
        });
        Assert.Equal(3, received);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("from-handler", call.GetTrailers().GetValue("error-detail"));
    }

    [Fact]
    public async Task Status_message_is_percent_encoded_on_the_wire_and_decoded_by_the_client()
    {
        const string detail = "café ☕ 100% done\r\nnext line 日本";
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { FailCode = 3, FailMessage = detail }));
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (_, wire, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.NotNull(wire);
        Assert.All(wire!, static c => Assert.InRange(c, (char)0x20, (char)0x7E));
        Assert.Contains("%25", wire);
        Assert.Contains("caf%C3%A9", wire);

        var error = await Assert.ThrowsAsync<GrpcException>(() => Host.Channel.UnaryAsync(TesterService.Unary, new TestRequest { FailCode = 3, FailMessage = detail }, new CallOptions(cancellationToken: Ct)));
        Assert.Equal(detail, error.Detail);
    }

    [Fact]
    public async Task Unexpected_exception_becomes_unknown_without_internals()
    {
        var error = await Assert.ThrowsAsync<GrpcException>(() => Host.Channel.UnaryAsync(TesterService.Unary, new TestRequest { ThrowUnexpected = true }, new CallOptions(cancellationToken: Ct)));

        Assert.Equal(StatusCode.Unknown, error.StatusCode);
        Assert.Equal("Exception was thrown by handler.", error.Detail);
        Assert.DoesNotContain("secret", error.Detail);
        Assert.Contains(Host.Logs.Errors, static e => e.Exception is InvalidOperationException { Message: "secret internals" });
    }

    [Fact]
    public async Task Unknown_method_and_unknown_service_get_200_with_unimplemented()
    {
        foreach (var path in new[] { "/trellis.test.v1.Tester/Nope", "/no.such.Service/Method", "/trellis.test.v1.Tester/unary" })
        {
            var request = RawGrpc.Request(path, RawGrpc.Frame(new TestRequest()));
            using var response = await Host.RawHttp2.SendAsync(request, Ct);
            var (status, message, trailersOnly, _) = await RawGrpc.ReadStatusAsync(response, Ct);
            Assert.Equal(200, (int)response.StatusCode);
            Assert.True(trailersOnly, $"{path}: trailers-only expected");
            Assert.True(status == 12, $"{path}: expected grpc-status 12, got {status} ({message})");
        }

        var unknown = new GrpcMethod<TestRequest, TestReply>(GrpcMethodType.Unary, "trellis.test.v1.Tester", "Missing", TestRequest.Parser, TestReply.Parser);
        var error = await Assert.ThrowsAsync<GrpcException>(() => Host.Channel.UnaryAsync(unknown, new TestRequest(), new CallOptions(cancellationToken: Ct)));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task Wrong_content_type_gets_415()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest()), contentType: "application/json");
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        Assert.Equal(415, (int)response.StatusCode);
    }

    [Fact]
    public async Task Http11_request_gets_426_with_upgrade_header()
    {
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest()), version: System.Net.HttpVersion.Version11);
        using var response = await Host.Http1.SendAsync(request, Ct);
        Assert.Equal(426, (int)response.StatusCode);
        Assert.Equal("HTTP/2", response.Headers.Upgrade.Single().ToString());
    }

    [Fact]
    public async Task Unary_with_additional_data_after_the_message_is_invalid_argument()
    {
        var one = RawGrpc.Frame(new TestRequest { Message = "a" });
        var request = RawGrpc.Request(TesterService.Unary.FullName, [.. one, .. one]);
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, message, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.Equal(3, status);
        Assert.Equal("Additional data after the message received.", Trellis.Grpc.Framing.PercentEncoding.Decode(message!));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(7)]
    public async Task Unary_with_end_of_stream_before_a_full_message_is_invalid_argument(int bytesSent)
    {
        var frame = RawGrpc.Frame(new TestRequest { Message = "truncated" });
        var request = RawGrpc.Request(TesterService.Unary.FullName, frame[..bytesSent]);
        using var response = await Host.RawHttp2.SendAsync(request, Ct);
        var (status, message, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.Equal(3, status);
        Assert.Equal("Incomplete message.", message);
    }

    [Fact]
    public async Task Message_over_the_receive_limit_is_resource_exhausted()
    {
        var big = new TestRequest { Payload = ByteString.CopyFrom(new byte[(4 * 1024 * 1024) + 1]) };
        var error = await Assert.ThrowsAsync<GrpcException>(() => Host.Channel.UnaryAsync(TesterService.Unary, big, new CallOptions(cancellationToken: Ct)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);

        // The length prefix alone is enough to refuse: the server must not wait for 4 GiB.
        var header = new byte[] { 0, 0xFF, 0xFF, 0xFF, 0xFF };
        using var response = await Host.RawHttp2.SendAsync(RawGrpc.Request(TesterService.Unary.FullName, header), Ct);
        var (status, _, _, _) = await RawGrpc.ReadStatusAsync(response, Ct);
        Assert.Equal(8, status);
    }

    [Fact]
    public async Task Client_receive_limit_is_resource_exhausted()
    {
        using var channel = GrpcChannel.ForAddress(Host.GrpcAddress, new GrpcChannelOptions { MaxReceiveMessageSize = 1024 });
        var error = await Assert.ThrowsAsync<GrpcException>(() => channel.UnaryAsync(TesterService.Unary, new TestRequest { Payload = ByteString.CopyFrom(new byte[4096]) }, new CallOptions(cancellationToken: Ct)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);

        using var limited = GrpcChannel.ForAddress(Host.GrpcAddress, new GrpcChannelOptions { MaxSendMessageSize = 1024 });
        var sendError = await Assert.ThrowsAsync<GrpcException>(() => limited.UnaryAsync(TesterService.Unary, new TestRequest { Payload = ByteString.CopyFrom(new byte[4096]) }, new CallOptions(cancellationToken: Ct)));
        Assert.Equal(StatusCode.ResourceExhausted, sendError.StatusCode);
    }

    [Fact]
    public async Task Server_keeps_serving_many_concurrent_calls_on_one_connection()
    {
        var calls = Enumerable.Range(0, 200).Select(i => Host.Channel.UnaryAsync(TesterService.Unary, new TestRequest { Message = "c" + i }, new CallOptions(cancellationToken: Ct)));
        var replies = await Wait.ForAsync(Task.WhenAll(calls), "200 concurrent unary replies");
        Assert.Equal(Enumerable.Range(0, 200).Select(static i => "c" + i), replies.Select(static r => r.Message));
    }
}
