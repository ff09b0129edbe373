using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using Trellis.Grpc.Framing;
using Trellis.Grpc.Internal;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Framing;

public sealed class FramingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] ThreeMessages()
    {
        var writer = new ArrayBufferWriter<byte>();
        GrpcFraming.WriteMessage(writer, new TestRequest { Message = "first" });
        GrpcFraming.WriteMessage(writer, new TestRequest());
        GrpcFraming.WriteMessage(writer, new TestRequest { Message = "third", Payload = ByteString.CopyFrom(new byte[300]) });
        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Header_is_flag_then_big_endian_length()
    {
        var writer = new ArrayBufferWriter<byte>();
        var message = new TestRequest { Message = new string('x', 300) };
        GrpcFraming.WriteMessage(writer, message);
        var bytes = writer.WrittenSpan.ToArray();

        Assert.Equal(0, bytes[0]);
        Assert.Equal(message.CalculateSize(), (bytes[1] << 24) | (bytes[2] << 16) | (bytes[3] << 8) | bytes[4]);
        Assert.Equal(message, TestRequest.Parser.ParseFrom(bytes.AsSpan(5)));
    }

    [Fact]
    public async Task Messages_split_across_two_chunks_at_every_byte_offset_parse_the_same()
    {
        var bytes = ThreeMessages();
        for (var split = 0; split <= bytes.Length; split++)
        {
            var pipe = new Pipe();
            var reader = new MessageReader(pipe.Reader, GrpcFraming.DefaultMaxMessageSize, encoding: null);
            await pipe.Writer.WriteAsync(bytes.AsMemory(0, split), Ct);
            var readTask = ReadAllAsync(reader);
            await pipe.Writer.WriteAsync(bytes.AsMemory(split), Ct);
            await pipe.Writer.CompleteAsync();
            var messages = await readTask;

            Assert.True(messages.Count == 3, $"split at {split}: expected 3 messages, got {messages.Count}");
            Assert.Equal("first", messages[0].Message);
            Assert.Equal(string.Empty, messages[1].Message);
            Assert.Equal(300, messages[2].Payload.Length);
        }
    }

    [Fact]
    public async Task Messages_delivered_one_byte_at_a_time_parse_the_same()
    {
        var bytes = ThreeMessages();
        var pipe = new Pipe();
        var reader = new MessageReader(pipe.Reader, GrpcFraming.DefaultMaxMessageSize, encoding: null);
        var readTask = ReadAllAsync(reader);
        foreach (var b in bytes)
        {
            await pipe.Writer.WriteAsync(new[] { b }, Ct);
        }

        await pipe.Writer.CompleteAsync();
        Assert.Equal(3, (await readTask).Count);
    }

    [Fact]
    public async Task Truncation_at_every_offset_is_an_incomplete_message()
    {
        var bytes = ThreeMessages();
        var boundaries = new HashSet<int> { 0 };
        var offset = 0;
        while (offset < bytes.Length)
        {
            offset += 5 + ((bytes[offset + 1] << 24) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 8) | bytes[offset + 4]);
            boundaries.Add(offset);
        }

        for (var cut = 0; cut < bytes.Length; cut++)
        {
            var reader = new MessageReader(PipeReader.Create(new ReadOnlySequence<byte>(bytes.AsMemory(0, cut))), GrpcFraming.DefaultMaxMessageSize, encoding: null);
            if (boundaries.Contains(cut))
            {
                await ReadAllAsync(reader);
                continue;
            }

            var error = await Assert.ThrowsAsync<GrpcException>(() => ReadAllAsync(reader));
            Assert.Equal(StatusCode.Internal, error.StatusCode);
            Assert.Equal("Incomplete message.", error.Detail);
        }
    }

    [Fact]
    public void Length_over_the_limit_and_bad_flags_are_reported_from_the_header_alone()
    {
        var tooLarge = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0, 1, 1 });
        Assert.Equal(FrameReadStatus.TooLarge, GrpcFraming.TryReadFrame(tooLarge, 256, out _, out _, out _));

        var badFlag = new ReadOnlySequence<byte>(new byte[] { 2, 0, 0, 0, 0 });
        Assert.Equal(FrameReadStatus.InvalidFlag, GrpcFraming.TryReadFrame(badFlag, 256, out _, out _, out _));

        var partialHeader = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0 });
        Assert.Equal(FrameReadStatus.NeedMoreData, GrpcFraming.TryReadFrame(partialHeader, 256, out _, out _, out _));
    }

    [Fact]
    public async Task Gzip_frames_round_trip()
    {
        var writer = new ArrayBufferWriter<byte>();
        var message = new TestRequest { Message = new string('g', 5000) };
        GrpcFraming.WriteMessage(writer, message, message.CalculateSize(), GrpcCompression.Gzip);
        Assert.Equal(1, writer.WrittenSpan[0]);
        Assert.True(writer.WrittenCount < 1000, $"gzip should shrink a repetitive message, got {writer.WrittenCount} bytes");

        var reader = new MessageReader(PipeReader.Create(new ReadOnlySequence<byte>(writer.WrittenMemory)), GrpcFraming.DefaultMaxMessageSize, GrpcCompression.Gzip);
        var parsed = await ReadAllAsync(reader);
        Assert.Equal(message, Assert.Single(parsed));
    }

    private static async Task<List<TestRequest>> ReadAllAsync(MessageReader reader)
    {
        var messages = new List<TestRequest>();
        while (await reader.ReadAsync(TestRequest.Parser, Ct) is { } message)
        {
            messages.Add(message);
        }

        return messages;
    }
}
