using Google.Protobuf.Reflection;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Infrastructure;

/// <summary>The test service: each request says how the handler behaves.</summary>
public static class TesterService
{
    public static readonly ServiceDescriptor Descriptor = TesterReflection.Descriptor.Services.Single(static s => s.Name == "Tester");

    public static readonly GrpcMethod<TestRequest, TestReply> Unary = GrpcMethod<TestRequest, TestReply>.FromDescriptor(Descriptor.FindMethodByName("Unary"));
    public static readonly GrpcMethod<TestRequest, TestReply> ServerStream = GrpcMethod<TestRequest, TestReply>.FromDescriptor(Descriptor.FindMethodByName("ServerStream"));
    public static readonly GrpcMethod<TestRequest, TestReply> ClientStream = GrpcMethod<TestRequest, TestReply>.FromDescriptor(Descriptor.FindMethodByName("ClientStream"));
    public static readonly GrpcMethod<TestRequest, TestReply> Duplex = GrpcMethod<TestRequest, TestReply>.FromDescriptor(Descriptor.FindMethodByName("Duplex"));

    /// <summary>Set when a handler saw its cancellation token fire (client cancel or deadline).</summary>
    public sealed class Observations
    {
        public TaskCompletionSource<string> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set when a handler starts waiting for cancellation.</summary>
        public TaskCompletionSource<string> Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public static GrpcServiceDefinition Create(Observations? observations = null) => new GrpcServiceBuilder(Descriptor)
        .AddUnary(Unary, async (request, context) =>
        {
            await BehaveAsync(request, context, observations);
            return Reply(request, context, 0);
        })
        .AddServerStreaming(ServerStream, async (request, responses, context) =>
        {
            Echo(request, context);
            for (var i = 0; i < request.Count; i++)
            {
                await responses.WriteAsync(Reply(request, context, i), context.CancellationToken);
            }

            // Fail or wait only after the messages, so the status has to travel in real trailers.
            await BehaveAsync(request, context, observations);
        })
        .AddClientStreaming(ClientStream, async (requests, context) =>
        {
            var parts = new List<string>();
            var count = 0;
            TestRequest? last = null;
            await foreach (var request in requests)
            {
                parts.Add(request.Message);
                count++;
                last = request;
            }

            if (last is not null)
            {
                await BehaveAsync(last, context, observations);
            }

            return new TestReply { Message = string.Join(",", parts), Index = count };
        })
        .AddDuplexStreaming(Duplex, async (requests, responses, context) =>
        {
            var index = 0;
            await foreach (var request in requests)
            {
                await BehaveAsync(request, context, observations);
                await responses.WriteAsync(Reply(request, context, index++));
            }
        })
        .Build();

    private static TestReply Reply(TestRequest request, ServerCallContext context, int index) => new()
    {
        Message = request.Message,
        Index = index,
        Payload = request.Payload,
        Peer = context.Peer,
        DeadlineMs = context.Deadline is { } deadline ? (long)(deadline - DateTimeOffset.UtcNow).TotalMilliseconds : -1,
    };

    private static void Echo(TestRequest request, ServerCallContext context)
    {
        if (request.EchoHeader.Length > 0)
        {
            var binary = Metadata.IsBinaryKey(request.EchoHeader);
            foreach (var entry in context.RequestHeaders.GetAll(request.EchoHeader))
            {
                if (binary)
                {
                    context.ResponseHeaders.Add(request.EchoHeader, entry.ValueBytes!);
                    context.ResponseTrailers.Add(request.EchoHeader, entry.ValueBytes!);
                }
                else
                {
                    context.ResponseHeaders.Add(request.EchoHeader, entry.Value!);
                    context.ResponseTrailers.Add(request.EchoHeader, entry.Value!);
                }
            }
        }
    }

    private static async Task BehaveAsync(TestRequest request, ServerCallContext context, Observations? observations)
    {
        Echo(request, context);
        if (request.WaitForCancel)
        {
            try
            {
                observations?.Waiting.TrySetResult(context.Method);
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                observations?.Cancelled.TrySetResult(context.Method);
                throw;
            }
        }

        if (request.ThrowUnexpected)
        {
            throw new InvalidOperationException("secret internals");
        }

        if (request.FailCode != 0)
        {
            var trailers = new Metadata().Add("error-detail", "from-handler");
            throw new GrpcException((StatusCode)request.FailCode, request.FailMessage, trailers);
        }
    }
}
