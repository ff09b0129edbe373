using System.Text.Json;
using Trellis.Grpc.Client;
using Trellis.Grpc.Health;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Interop;

/// <summary>Our server and client against grpcio (Python), a gRPC implementation nobody here wrote.</summary>
public sealed class PythonInteropTests(PythonPeer python) : IClassFixture<PythonPeer>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Grpcio_client_calls_our_server()
    {
        var health = new HealthService();
        await using var host = await GrpcTestHost.StartAsync(endpoints =>
        {
            endpoints.MapGrpcService(TesterService.Create());
            endpoints.MapGrpcService(health.Definition);
        });

        var target = $"127.0.0.1:{host.GrpcAddress.Port}";
        var (exitCode, stdout, stderr) = await PythonPeer.RunAsync(
            PythonPeer.Python, [Path.Combine(PythonPeer.ScriptDir, "interop_client.py"), target, python.GeneratedDir], TimeSpan.FromSeconds(40));
        Assert.True(exitCode == 0, $"python client failed ({exitCode}): {stderr}");
        using var document = JsonDocument.Parse(stdout);
        var results = document.RootElement;

        var unary = results.GetProperty("unary");
        Assert.Equal("from python", unary.GetProperty("message").GetString());
        Assert.StartsWith("ipv4:127.0.0.1:", unary.GetProperty("peer").GetString());
        Assert.Equal("py-value", unary.GetProperty("initial").GetProperty("x-echo").GetString());
        Assert.Equal("py-value", unary.GetProperty("trailing").GetProperty("x-echo").GetString());
        Assert.InRange(unary.GetProperty("deadline_ms").GetInt64(), 1, 10_000);

        Assert.Equal([0, 1, 2, 3, 4], results.GetProperty("server_stream").EnumerateArray().Select(static e => e.GetInt32()));
        Assert.Equal("0,1,2,3", results.GetProperty("client_stream").GetString());
        Assert.Equal(["d0", "d1", "d2"], results.GetProperty("duplex").EnumerateArray().Select(static e => e.GetString()));

        var error = results.GetProperty("error");
        Assert.Equal(5, error.GetProperty("code").GetInt32());
        Assert.Equal("café ☕ 100% über", error.GetProperty("details").GetString());
        Assert.Equal("from-handler", error.GetProperty("trailers").GetProperty("error-detail").GetString());

        var streamError = results.GetProperty("stream_error");
        Assert.Equal(9, streamError.GetProperty("code").GetInt32());
        Assert.Equal("stopped", streamError.GetProperty("details").GetString());

        Assert.Equal(4, results.GetProperty("deadline").GetProperty("code").GetInt32());
        Assert.Equal(12, results.GetProperty("unimplemented").GetProperty("code").GetInt32());
        Assert.Equal(1024 * 1024, results.GetProperty("big_payload").GetInt32());
        Assert.Equal(1, results.GetProperty("health").GetInt32());
        Assert.True(results.GetProperty("gzip").GetBoolean(), "gzip-compressed call from grpcio failed");
        host.AssertNoErrorLogs();
    }

    [Fact]
    public async Task Our_client_calls_a_grpcio_server()
    {
        using var server = PythonPeer.Start(PythonPeer.Python, [Path.Combine(PythonPeer.ScriptDir, "interop_server.py"), python.GeneratedDir], redirectInput: true);
        var stderr = server.StandardError.ReadToEndAsync(Ct);
        try
        {
            var portLine = await Wait.ForAsync(server.StandardOutput.ReadLineAsync(Ct).AsTask(), "the python server to print its port", TimeSpan.FromSeconds(20));
            Assert.True(int.TryParse(portLine, out var port) && port > 0, $"python server printed '{portLine}' instead of a port");
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
            var options = new CallOptions(new Metadata().Add("x-echo", "dotnet"), DateTimeOffset.UtcNow.AddSeconds(20), Ct);

            using (var unary = channel.Unary(TesterService.Unary, new TestRequest { Message = "hi python", EchoHeader = "x-echo" }, options))
            {
                Assert.Equal("hi python", (await unary.ResponseAsync).Message);
                Assert.Equal("dotnet", unary.GetTrailers().GetValue("x-echo"));
            }

            using (var stream = channel.ServerStreaming(TesterService.ServerStream, new TestRequest { Message = "s", Count = 7 }, options))
            {
                var indexes = new List<int>();
                await foreach (var reply in stream.ResponseStream)
                {
                    indexes.Add(reply.Index);
                }

                Assert.Equal(Enumerable.Range(0, 7), indexes);
            }

            using (var upload = channel.ClientStreaming(TesterService.ClientStream, options))
            {
                foreach (var part in new[] { "a", "b", "c" })
                {
                    await upload.RequestStream.WriteAsync(new TestRequest { Message = part }, Ct);
                }

                await upload.RequestStream.CompleteAsync();
                Assert.Equal("a,b,c", (await upload.ResponseAsync).Message);
            }

            using (var duplex = channel.DuplexStreaming(TesterService.Duplex, options))
            {
                await using var replies = duplex.ResponseStream.GetAsyncEnumerator(Ct);
                for (var i = 0; i < 3; i++)
                {
                    await duplex.RequestStream.WriteAsync(new TestRequest { Message = "p" + i }, Ct);
                    Assert.True(await Wait.ForAsync(replies.MoveNextAsync(), $"python's reply {i}"));
                    Assert.Equal("p" + i, replies.Current.Message);
                }

                await duplex.RequestStream.CompleteAsync();
                Assert.False(await Wait.ForAsync(replies.MoveNextAsync(), "the end of python's duplex stream"));
            }

            var error = await Assert.ThrowsAsync<GrpcException>(() => channel.UnaryAsync(TesterService.Unary, new TestRequest { FailCode = 7, FailMessage = "nein ☕ 50%" }, options));
            Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
            Assert.Equal("nein ☕ 50%", error.Detail);
            Assert.Equal("from-python", error.Trailers.GetValue("error-detail"));

            var late = await Assert.ThrowsAsync<GrpcException>(() => channel.UnaryAsync(TesterService.Unary, new TestRequest { WaitForCancel = true }, options with { Deadline = DateTimeOffset.UtcNow.AddMilliseconds(300) }));
            Assert.Equal(StatusCode.DeadlineExceeded, late.StatusCode);

            using var gzip = GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions { RequestCompression = "gzip" });
            var zipped = await gzip.UnaryAsync(TesterService.Unary, new TestRequest { Message = new string('z', 10_000) }, options);
            Assert.Equal(10_000, zipped.Message.Length);
        }
        finally
        {
            // Closing stdin is the server's signal to stop; kill only if it does not.
            server.StandardInput.Close();
            using var exit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            exit.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                await server.WaitForExitAsync(exit.Token);
            }
            catch (OperationCanceledException)
            {
                server.Kill(entireProcessTree: true);
            }
        }

        Assert.True(server.ExitCode == 0, $"python server exited with {server.ExitCode}: {await stderr}");
    }
}
