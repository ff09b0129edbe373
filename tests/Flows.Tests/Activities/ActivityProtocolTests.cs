using System.Buffers;
using System.Text;
using Trellis.Flows.Activities.Internal;
using Xunit;

namespace Trellis.Flows.Tests.Activities;

public sealed class ActivityProtocolTests
{
    [Fact]
    public void An_input_is_one_compact_line_even_when_the_body_spans_lines()
    {
        var buffer = new ArrayBufferWriter<byte>();

        ActivityProtocol.WriteInput(buffer, "7", "in", "{\n  \"a\": [1, 2]\n}"u8);

        Assert.Equal("{\"id\":\"7\",\"port\":\"in\",\"data\":{\"a\":[1,2]}}\n", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void A_body_that_is_not_json_is_passed_as_a_string()
    {
        var buffer = new ArrayBufferWriter<byte>();

        ActivityProtocol.WriteInput(buffer, "1", "in", "plain \"text\""u8);

        Assert.Equal("{\"id\":\"1\",\"port\":\"in\",\"data\":\"plain \\u0022text\\u0022\"}\n", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void Replies_are_read()
    {
        Assert.True(ActivityProtocol.TryParseReply("""{"id":"1","port":"out","data":{"x":1}}""", out var output, out _));
        Assert.Equal("out", output.Port);
        Assert.Equal("""{"x":1}""", Encoding.UTF8.GetString(output.Data.Span));
        Assert.False(output.Ack);

        Assert.True(ActivityProtocol.TryParseReply("""{"id":"1","port":"out","data":2,"ack":true}""", out var both, out _));
        Assert.True(both.Ack);

        Assert.True(ActivityProtocol.TryParseReply("""{"id":"2","error":"no"}""", out var error, out _));
        Assert.Equal("no", error.Error);

        Assert.True(ActivityProtocol.TryParseReply("""{"port":"out","data":"tick"}""", out var spontaneous, out _));
        Assert.Null(spontaneous.Id);
    }

    [Theory]
    [InlineData("hello", "not JSON")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("""{"id":"1"}""", "has none of")]
    [InlineData("""{"ack":true}""", "need the 'id'")]
    [InlineData("""{"id":1,"ack":true}""", "'id' must be a string")]
    public void Bad_lines_are_named(string line, string expected)
    {
        Assert.False(ActivityProtocol.TryParseReply(line, out _, out var problem));
        Assert.Contains(expected, problem);
    }
}
