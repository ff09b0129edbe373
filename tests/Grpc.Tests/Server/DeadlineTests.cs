using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Trellis.Grpc.Client;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Server;

/// <summary>grpc-timeout on the server and deadlines on the client.</summary>
public sealed class DeadlineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Server_enforces_grpc_timeout_with_trailers_only_deadline_exceeded_and_cancels_the_handler()
    {
        var observations = new TesterService.Observations();
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(TesterService.Create(observations)));

        // A raw request: no client-side deadline at all, so only the server can end this call.
        var request = RawGrpc.Request(TesterService.Unary.FullName, RawGrpc.Frame(new TestRequest { WaitForCancel = true }));
        request.Headers.TryAddWithoutValidation("grpc-timeout", "500m");
        using var response = await Wait.ForAsync(host.RawHttp2.SendAsync(request, Ct), "the server's DEADLINE_EXCEEDED response");
        var (status, message, trailersOnly, _) = await RawGrpc.ReadStatusAsync(response, Ct);

        Assert.Equal(4, status);
        Assert.Equal("Deadline Exceeded", message);
        Assert.True(trailersOnly, "nothing was written, so the status should be trailers-only");
        Assert.Equal(TesterService.Unary.FullName, await Wait.ForAsync(observations.Cancelled.Task, "the handler's token to be cancelled by the deadline"));
        host.AssertNoErrorLogs();
    }

    [Fact]
    public async Task Server_deadline_after_a_message_sends_status_in_trailers()
    {
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(TesterService.Create()));
        var request = RawGrpc.Request(TesterService.ServerStream.FullName, RawGrpc.Frame(new TestRequest { Count = 1, WaitForCancel = true }));
        request.Headers.TryAddWithoutValidation("grpc-timeout", "1S");
        using var response = await Wait.ForAsync(host.RawHttp2.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct), "response headers of the streaming call");
        var (status, _, trailersOnly, body) = await Wait.ForAsync(RawGrpc.ReadStatusAsync(response, Ct), "the trailers of the expired streaming call");

        Assert.Equal(4, status);
        Assert.False(trailersOnly, "a message was sent, so the status must be in trailers");
        Assert.NotEmpty(body);
    }

    [Fact]
    public async Task Server_sees_the_deadline_the_client_sent()
    {
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(TesterService.Create()));
        var reply = await host.Channel.UnaryAsync(TesterService.Unary, new TestRequest(), new CallOptions(deadline: DateTimeOffset.UtcNow.AddSeconds(30), cancellationToken: Ct));
        Assert.InRange(reply.DeadlineMs, 20_000, 30_000);
    }

    [Fact]
    public async Task Client_deadline_against_our_server_is_deadline_exceeded()
    {
        var observations = new TesterService.Observations();
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(TesterService.Create(observations)));
        await WarmUpAsync(host.Channel);
        var error = await Assert.ThrowsAsync<GrpcException>(() => Wait.ForAsync(
            host.Channel.UnaryAsync(TesterService.Unary, new TestRequest { WaitForCancel = true }, new CallOptions(deadline: DateTimeOffset.UtcNow.AddMilliseconds(500), cancellationToken: Ct)),
            "the call to fail with DEADLINE_EXCEEDED"));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        await Wait.ForAsync(observations.Cancelled.Task, "the server handler to observe the deadline");
    }

    [Fact]
    public async Task Client_enforces_its_deadline_locally_when_the_server_ignores_grpc_timeout()
    {
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await GrpcTestHost.StartAsync(e => e.MapPost("/silent.Service/Hang", async (HttpContext context) =>
        {
            seen.TrySetResult(context.Request.Headers["grpc-timeout"]);
            context.Response.ContentType = "application/grpc";
            await context.Response.StartAsync();

            // Never answers and ignores grpc-timeout: only the client can end this call.
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        }));

        var hang = new GrpcMethod<TestRequest, TestReply>(GrpcMethodType.Unary, "silent.Service", "Hang", TestRequest.Parser, TestReply.Parser);
        await WarmUpAsync(host.Channel);
        var started = DateTimeOffset.UtcNow;
        var error = await Assert.ThrowsAsync<GrpcException>(() => Wait.ForAsync(
            host.Channel.UnaryAsync(hang, new TestRequest(), new CallOptions(deadline: started.AddMilliseconds(500), cancellationToken: Ct)),
            "the client to give up at its deadline"));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        var timeout = await Wait.ForAsync(seen.Task, "the request to reach the server");
        Assert.NotNull(timeout);
        Assert.True(Trellis.Grpc.Framing.GrpcTimeout.TryParse(timeout, out var sent), $"client sent an invalid grpc-timeout '{timeout}'");
        Assert.InRange(sent, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(500));
    }

    /// <summary>Opens the HTTP/2 connection first, so a short deadline measures the call and not connection set-up on a busy machine.</summary>
    private static async Task WarmUpAsync(GrpcChannel channel)
    {
        var missing = new GrpcMethod<TestRequest, TestReply>(GrpcMethodType.Unary, "warm.Up", "Call", TestRequest.Parser, TestReply.Parser);
        var error = await Assert.ThrowsAsync<GrpcException>(() => channel.UnaryAsync(missing, new TestRequest(), new CallOptions(cancellationToken: Ct)));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task Deadline_in_the_past_fails_without_a_request()
    {
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(TesterService.Create()));
        var error = await Assert.ThrowsAsync<GrpcException>(() => host.Channel.UnaryAsync(TesterService.Unary, new TestRequest(), new CallOptions(deadline: DateTimeOffset.UtcNow.AddSeconds(-1), cancellationToken: Ct)));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
    }

    [Fact]
    public async Task Client_cancellation_is_cancelled_and_reaches_the_handler()
    {
        var observations = new TesterService.Observations();
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(TesterService.Create(observations)));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var call = host.Channel.DuplexStreaming(TesterService.Duplex, new CallOptions(cancellationToken: cts.Token));
        await call.RequestStream.WriteAsync(new TestRequest { WaitForCancel = true }, Ct);
        await Wait.ForAsync(observations.Waiting.Task, "the handler to start waiting for cancellation");
        cts.Cancel();

        var error = await Assert.ThrowsAsync<GrpcException>(async () =>
        {
            await foreach (var unused in call.ResponseStream)
            {
            }
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await Wait.ForAsync(observations.Cancelled.Task, "the handler to observe the client's cancellation");
    }
}
