using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Tests.Framing;

public sealed class PercentEncodingTests
{
    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("100%", "100%25")]
    [InlineData("a\nb", "a%0Ab")]
    [InlineData("café", "caf%C3%A9")]
    [InlineData("☕", "%E2%98%95")]
    [InlineData("~ !", "~ !")]
    [InlineData("\u007F", "%7F")]
    [InlineData("", "")]
    public void Encodes_per_spec(string value, string expected) => Assert.Equal(expected, PercentEncoding.Encode(value));

    [Theory]
    [InlineData("plain text")]
    [InlineData("100% sure")]
    [InlineData("multi\r\nline\ttabs")]
    [InlineData("日本語 and émoji 🎉")]
    [InlineData("%41 is not an escape here")]
    public void Round_trips(string value) => Assert.Equal(value, PercentEncoding.Decode(PercentEncoding.Encode(value)));

    [Theory]
    [InlineData("50%", "50%")]
    [InlineData("%zz", "%zz")]
    [InlineData("%4", "%4")]
    [InlineData("%C3", "%C3")]
    [InlineData("%41%42", "AB")]
    [InlineData("%c3%a9", "é")]
    public void Decodes_leniently(string wire, string expected) => Assert.Equal(expected, PercentEncoding.Decode(wire));
}
