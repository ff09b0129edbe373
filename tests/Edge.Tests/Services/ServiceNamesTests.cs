using Trellis.Edge.Services;

namespace Trellis.Edge.Tests.Services;

public sealed class ServiceNamesTests
{
    [Theory]
    [InlineData("godevsig")]
    [InlineData("echo-server.v2")]
    [InlineData("Ünïcode")]
    public void Accepts_plain_names(string name) => Assert.Null(ServiceNames.Problem(name, "publisher"));

    [Theory]
    [InlineData("", "missing")]
    [InlineData(null, "missing")]
    [InlineData("a_b", "'_'")]
    [InlineData("a/b", "'/'")]
    [InlineData("a b", "whitespace")]
    [InlineData("a\tb", "whitespace")]
    [InlineData("a\u0001b", "control")]
    [InlineData("echo*", "wildcards")]
    public void Refuses_bad_names_naming_the_field(string? name, string expected)
    {
        var problem = ServiceNames.Problem(name, "service");
        Assert.NotNull(problem);
        Assert.StartsWith("service", problem);
        Assert.Contains(expected, problem);
    }

    [Fact]
    public void Refuses_names_longer_than_64_characters()
    {
        Assert.Null(ServiceNames.Problem(new string('a', 64), "publisher"));
        Assert.Contains("65 characters", ServiceNames.Problem(new string('a', 65), "publisher"));
    }

    [Fact]
    public void Patterns_may_use_the_wildcard_but_not_the_other_characters()
    {
        Assert.Null(ServiceNames.Problem("*", "publisher", pattern: true));
        Assert.Null(ServiceNames.Problem("echo*v*", "service", pattern: true));
        Assert.NotNull(ServiceNames.Problem("a_*", "service", pattern: true));
    }

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("*", "", true)]
    [InlineData("echo", "echo", true)]
    [InlineData("echo", "Echo", false)]
    [InlineData("echo*", "echo-server", true)]
    [InlineData("*server", "echo-server", true)]
    [InlineData("e*o*r", "echo-server", true)]
    [InlineData("e*o*x", "echo-server", false)]
    [InlineData("a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false)]
    [InlineData("echo", "echo2", false)]
    [InlineData("**", "x", true)]
    public void Wildcards_match_any_run_of_characters(string pattern, string name, bool matches) =>
        Assert.Equal(matches, ServiceNames.Matches(pattern, name));
}
