using System.Buffers.Binary;
using System.Net;
using Google.Protobuf;
using Trellis.Grpc.Client;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.Infrastructure;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Server;

/// <summary>Random and mutated request bodies: every one gets a gRPC status or a stream reset, and the server keeps serving.</summary>
public sealed class FuzzTests
{
    private const int Cases = 600;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Paths =
    [
        TesterService.Unary.FullName, TesterService.ServerStream.FullName, TesterService.ClientStream.FullName,
        TesterService.Duplex.FullName, "/trellis.test.v1.Tester/Nope", "/fuzz.Unknown/Call",
    ];

    private static readonly string?[] Encodings = [null, null, null, "gzip", "identity", "br", "", "GZIP"];

    [Fact]
    public async Task Random_and_mutated_frames_never_crash_the_server()
    {
        var seed = Environment.TickCount;
        await using var host = await GrpcTestHost.StartAsync(e => e.MapGrpcService(HarmlessService()), o => o.MaxReceiveMessageSize = 64 * 1024);
        using var client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { BaseAddress = host.GrpcAddress };
        var outcomes = new int[3];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        await Parallel.ForEachAsync(Enumerable.Range(0, Cases), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (index, token) =>
        {
            var random = new Random(seed + index);
            var path = Paths[random.Next(Paths.Length)];
            var body = Body(random);
            var encoding = Encodings[random.Next(Encodings.Length)];
            var request = new HttpRequestMessage(HttpMethod.Post, path)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ChunkedContent(body, random),
            };
            request.Headers.TryAddWithoutValidation("TE", "trailers");
            request.Headers.TryAddWithoutValidation("grpc-timeout", "5S");
            if (encoding is not null)
            {
                request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            try
            {
                using var response = await client.SendAsync(request, cts.Token);
                var (status, _, _, _) = await RawGrpc.ReadStatusAsync(response, cts.Token);
                if (response.StatusCode != HttpStatusCode.OK || status is null or < 0 or > 16)
                {
                    failures.Enqueue($"case {index} ({path}, {body.Length} bytes): HTTP {(int)response.StatusCode}, grpc-status {status?.ToString() ?? "missing"}");
                }
                else
                {
                    Interlocked.Increment(ref outcomes[status == 0 ? 0 : 1]);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or HttpProtocolException && !cts.IsCancellationRequested)
            {
                // The server reset the stream (e.g. it stopped reading a request it had already answered).
                Interlocked.Increment(ref outcomes[2]);
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                failures.Enqueue($"case {index} ({path}, {body.Length} bytes): no answer within 15 s");
            }
        });

        Assert.True(failures.IsEmpty, $"seed {seed}: " + string.Join("; ", failures.Take(10)));
        Assert.Equal(Cases, outcomes.Sum());
        Assert.True(outcomes[1] > 0, $"seed {seed}: expected some error statuses, got ok={outcomes[0]} error={outcomes[1]} reset={outcomes[2]}");

        // Still serving, with nothing logged at Error level.
        using var channel = GrpcChannel.ForAddress(host.GrpcAddress);
        var reply = await channel.UnaryAsync(TesterService.Unary, new TestRequest { Message = "after fuzz" }, new CallOptions(cancellationToken: Ct));
        Assert.Equal("after fuzz", reply.Message);
        host.AssertNoErrorLogs();
    }

    /// <summary>The test service's methods with handlers that stay cheap whatever a random request asks for.</summary>
    private static GrpcServiceDefinition HarmlessService() => new GrpcServiceBuilder(TesterService.Descriptor)
        .AddUnary(TesterService.Unary, static (request, context) => Task.FromResult(new TestReply { Message = request.Message }))
        .AddServerStreaming(TesterService.ServerStream, static async (request, responses, context) =>
        {
            await responses.WriteAsync(new TestReply { Index = 0 });
            await responses.WriteAsync(new TestReply { Index = 1 });
        })
        .AddClientStreaming(TesterService.ClientStream, static async (requests, context) =>
        {
            var count = 0;
            await foreach (var unused in requests)
            {
                count++;
            }

            return new TestReply { Index = count };
        })
        .AddDuplexStreaming(TesterService.Duplex, static async (requests, responses, context) =>
        {
            await foreach (var request in requests)
            {
                await responses.WriteAsync(new TestReply { Message = request.Message });
            }
        })
        .Build();

    private static byte[] Body(Random random)
    {
        switch (random.Next(7))
        {
            case 0:
                return RandomBytes(random, random.Next(0, 64));
            case 1:
            {
                var frame = ValidFrames(random);
                return frame[..random.Next(frame.Length + 1)];
            }

            case 2:
            {
                var frame = ValidFrames(random);
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                {
                    frame[random.Next(frame.Length)] = (byte)random.Next(256);
                }

                return frame;
            }

            case 3:
            {
                var frame = new byte[5 + random.Next(0, 32)];
                random.NextBytes(frame);
                frame[0] = (byte)random.Next(2);
                BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)random.NextInt64(65 * 1024, uint.MaxValue));
                return frame;
            }

            case 4:
            {
                var frame = ValidFrames(random);
                frame[0] = (byte)random.Next(2, 256);
                return frame;
            }

            case 5:
                return [.. ValidFrames(random), .. RandomBytes(random, random.Next(1, 16))];
            default:
                return ValidFrames(random);
        }
    }

    private static byte[] ValidFrames(Random random)
    {
        var frames = new List<byte>();
        for (var count = random.Next(1, 4); count > 0; count--)
        {
            var message = new TestRequest { Message = new string('m', random.Next(0, 40)), Payload = ByteString.CopyFrom(RandomBytes(random, random.Next(0, 100))) };
            frames.AddRange(RawGrpc.Frame(message, compressedFlag: random.Next(4) == 0));
        }

        return [.. frames];
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Sends the body in random pieces, flushing each, so frames straddle DATA frames at arbitrary offsets.</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly byte[] _body;
        private readonly int[] _cuts;

        public ChunkedContent(byte[] body, Random random)
        {
            _body = body;
            _cuts = [.. Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(body.Length + 1)).Order()];
            Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var start = 0;
            foreach (var cut in _cuts.Append(_body.Length))
            {
                await stream.WriteAsync(_body.AsMemory(start, cut - start));
                await stream.FlushAsync();
                start = cut;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
