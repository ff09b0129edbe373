using Trellis.Edge.Update;

namespace Trellis.Edge.Tests.Update;

public sealed class AgentVersionOrderTests
{
    [Theory]
    [InlineData("1.0.1", "1.0.0")]
    [InlineData("1.10.0", "1.9.0")]
    [InlineData("2", "1.99.99")]
    [InlineData("1.0.0.1", "1.0.0")]
    [InlineData("1.0.0", "1.0.0-rc.1")]
    [InlineData("1.0.0-rc.10", "1.0.0-rc.9")]
    [InlineData("1.0.0-rc", "1.0.0-beta")]
    [InlineData("1.0.0-rc.1.1", "1.0.0-rc.1")]
    [InlineData("v1.2.0", "1.1.9+abcdef")]
    public void Newer_versions_order_after_older_ones(string newer, string older)
    {
        Assert.True(AgentVersionOrder.IsNewer(newer, older), $"{newer} > {older}");
        Assert.False(AgentVersionOrder.IsNewer(older, newer), $"{older} < {newer}");
    }

    [Theory]
    [InlineData("1.0.0", "1.0.0")]
    [InlineData("1.0", "1.0.0")]
    [InlineData("1.0.0+a", "1.0.0+b")]
    public void Equal_versions_are_not_newer(string a, string b)
    {
        Assert.True(AgentVersionOrder.TryCompare(a, b, out var order));
        Assert.Equal(0, order);
        Assert.False(AgentVersionOrder.IsNewer(a, b));
    }

    [Theory]
    [InlineData("")]
    [InlineData("latest")]
    [InlineData("1.x")]
    [InlineData("-1.0")]
    public void Unreadable_versions_are_never_newer(string version)
    {
        Assert.False(AgentVersionOrder.TryCompare(version, "1.0.0", out _));
        Assert.False(AgentVersionOrder.IsNewer(version, "1.0.0"));
    }
}
