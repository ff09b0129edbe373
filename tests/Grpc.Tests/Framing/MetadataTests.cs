using Trellis.Grpc.Internal;

namespace Trellis.Grpc.Tests.Framing;

public sealed class MetadataTests
{
    [Fact]
    public void Keys_are_lower_cased_and_validated()
    {
        var metadata = new Metadata().Add("X-Trace", "1");
        Assert.Equal("x-trace", metadata[0].Key);
        Assert.Throws<ArgumentException>(() => new Metadata().Add("bad key", "v"));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("x-bin", "text"));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("x-text", [1, 2]));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("x", "line\nbreak"));
    }

    [Theory]
    [InlineData("AAEC/w", new byte[] { 0, 1, 2, 255 })]
    [InlineData("AAEC/w==", new byte[] { 0, 1, 2, 255 })]
    [InlineData("YQ", new byte[] { 97 })]
    [InlineData("YQ==", new byte[] { 97 })]
    [InlineData("", new byte[0])]
    public void Binary_values_accept_padded_and_unpadded_base64(string wire, byte[] expected)
    {
        Assert.True(MetadataHeaders.TryFromBase64(wire, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Binary_values_are_sent_unpadded()
    {
        Assert.Equal("AAEC/w", MetadataHeaders.ToBase64([0, 1, 2, 255]));
        Assert.False(MetadataHeaders.TryFromBase64("A", out _));
        Assert.False(MetadataHeaders.TryFromBase64("!!!!", out _));
    }
}
