using Trellis.Grpc.Framing;

namespace Trellis.Grpc.Tests.Framing;

public sealed class GrpcTimeoutTests
{
    public static TheoryData<string, long> Valid => new()
    {
        { "1S", TimeSpan.TicksPerSecond },
        { "100m", 100 * TimeSpan.TicksPerMillisecond },
        { "2M", 2 * TimeSpan.TicksPerMinute },
        { "3H", 3 * TimeSpan.TicksPerHour },
        { "250u", 2500 },
        { "1000n", 10 },
        { "1n", 1 },
        { "0S", 0 },
        { "00000001m", TimeSpan.TicksPerMillisecond },
        { "1000000S", 1_000_000 * TimeSpan.TicksPerSecond },
        { "99999999S", GrpcTimeout.MaxTimeout.Ticks },
        { "99999999H", GrpcTimeout.MaxTimeout.Ticks },
        { "99999999M", GrpcTimeout.MaxTimeout.Ticks },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses_valid_values(string value, long expectedTicks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out var timeout), $"'{value}' should parse");
        Assert.Equal(expectedTicks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("1")]
    [InlineData("1x")]
    [InlineData("1s")]
    [InlineData("-1S")]
    [InlineData("+1S")]
    [InlineData(" 1S")]
    [InlineData("1S ")]
    [InlineData("1.5S")]
    [InlineData("123456789S")]
    [InlineData("1e3m")]
    [InlineData("１S")]
    public void Ignores_values_the_spec_does_not_allow(string value)
    {
        Assert.False(GrpcTimeout.TryParse(value, out _), $"'{value}' should be ignored");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(999)]
    [InlineData(TimeSpan.TicksPerMillisecond)]
    [InlineData(TimeSpan.TicksPerSecond * 30)]
    [InlineData(TimeSpan.TicksPerHour * 5)]
    [InlineData(TimeSpan.TicksPerDay * 400)]
    public void Format_fits_eight_digits_and_never_shortens(long ticks)
    {
        var timeout = TimeSpan.FromTicks(ticks);
        var text = GrpcTimeout.Format(timeout);
        Assert.InRange(text.Length, 2, 9);
        Assert.True(GrpcTimeout.TryParse(text, out var parsed), $"formatted '{text}' should parse");
        Assert.True(parsed >= timeout || parsed == GrpcTimeout.MaxTimeout, $"'{text}' parsed to {parsed}, shorter than {timeout}");
    }

    [Fact]
    public void Format_of_an_expired_timeout_is_the_smallest_positive_value()
    {
        Assert.Equal("1n", GrpcTimeout.Format(TimeSpan.Zero));
        Assert.Equal("1n", GrpcTimeout.Format(TimeSpan.FromSeconds(-5)));
    }
}
