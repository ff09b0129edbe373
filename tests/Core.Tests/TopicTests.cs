using Trellis.Core.Errors;
using Trellis.Core.Topics;
using Xunit;

namespace Trellis.Core.Tests;

public sealed class TopicTests
{
    [Theory]
    [InlineData("a.*", "a.b", true)]
    [InlineData("a.*", "a.b.c", true)]
    [InlineData("a.*", "a.", true)]
    [InlineData("a.*", "a", false)]
    [InlineData("a*z", "a.b.z", true)]
    [InlineData("a*z", "az", true)]
    [InlineData("a*z", "a.b.zz.y", false)]
    [InlineData("*", "anything.at.all", true)]
    [InlineData("*.end", "x.y.end", true)]
    [InlineData("*.end", "end", false)]
    [InlineData("a.*.c.*", "a.b.c.d", true)]
    [InlineData("a.*.c.*", "a.b.d.c", false)]
    [InlineData("a**b", "ab", true)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "exactly", false)]
    public void Glob_star_matches_any_run_including_dots(string pattern, string topic, bool expected) =>
        Assert.Equal(expected, Glob.IsMatch(pattern, topic));

    [Theory]
    [InlineData("", "topic is required")]
    [InlineData(" spaced", "whitespace")]
    [InlineData("tab\there", "whitespace")]
    [InlineData("a.#", "'#'")]
    [InlineData(".lead", "empty segment")]
    [InlineData("trail.", "empty segment")]
    [InlineData("a..b", "empty segment")]
    [InlineData("svc.*", "wildcard")]
    public void Bad_topics_are_refused_with_the_reason(string topic, string reason)
    {
        var e = Assert.Throws<TrellisException>(() => TopicRules.ValidateTopic(topic));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(reason, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Over_long_topics_are_refused_with_both_lengths()
    {
        var e = Assert.Throws<TrellisException>(() => TopicRules.ValidateTopic(new string('x', 256)));
        Assert.Contains("256 bytes", e.Message);
        Assert.Contains("limit is 255", e.Message);

        // The limit counts UTF-8 bytes, as an AMQP routing key does.
        Assert.Throws<TrellisException>(() => TopicRules.ValidateTopic(new string('é', 128)));
        TopicRules.ValidateTopic(new string('é', 127));
    }

    [Fact]
    public void Slot_patterns_may_use_wildcards_but_services_need_a_group()
    {
        TopicRules.ValidatePattern("a.*.b*c");
        var e = Assert.Throws<TrellisException>(() => TopicRules.ValidateGroup(null, required: true));
        Assert.Contains("required", e.Message);
        TopicRules.ValidateGroup(null, required: false);
        Assert.Throws<TrellisException>(() => TopicRules.ValidateGroup("has space", required: false));
        Assert.Throws<TrellisException>(() => TopicRules.ValidateGroup(new string('g', 101), required: true));
    }

    [Fact]
    public void The_index_finds_exact_and_pattern_subscriptions_and_forgets_removed_ones()
    {
        var index = new TopicIndex<string>();
        index.Add("a.b", "exact");
        index.Add("a.*", "a-star");
        index.Add("a.b*", "ab-star");
        index.Add("*", "all");
        index.Add("x.*.z", "xz");

        Assert.Equal(["exact", "all", "a-star", "ab-star"], Match(index, "a.b"));
        Assert.Equal(["all", "a-star", "ab-star"], Match(index, "a.bc.d"));
        Assert.Equal(["all", "xz"], Match(index, "x.y.z"));
        Assert.Equal(["all"], Match(index, "x.y"));

        Assert.True(index.Remove("a.*", "a-star"));
        Assert.False(index.Remove("a.*", "a-star"));
        Assert.True(index.Remove("a.b", "exact"));
        Assert.Equal(["all", "ab-star"], Match(index, "a.b"));
        Assert.Equal(3, index.Count);
    }

    [Fact]
    public void The_index_agrees_with_brute_force_on_many_patterns()
    {
        var random = new Random(7);
        var words = new[] { "a", "b", "ab", "ba", "c" };
        string Word() => words[random.Next(words.Length)];
        var patterns = new List<string>();
        var index = new TopicIndex<string>();
        for (var i = 0; i < 400; i++)
        {
            var parts = Enumerable.Range(0, random.Next(1, 4)).Select(_ => random.Next(4) == 0 ? Word() + "*" : Word());
            var pattern = string.Join('.', parts);
            patterns.Add(pattern);
            index.Add(pattern, $"{i}");
        }

        for (var i = 0; i < 500; i++)
        {
            var topic = string.Join('.', Enumerable.Range(0, random.Next(1, 5)).Select(_ => Word()));
            var expected = patterns.Select((p, n) => (p, n)).Where(x => Glob.IsMatch(x.p, topic)).Select(x => $"{x.n}").Order().ToArray();
            var results = new List<string>();
            index.Match(topic, results);
            Assert.Equal(expected, results.Order().ToArray());
        }
    }

    private static string[] Match(TopicIndex<string> index, string topic)
    {
        var results = new List<string>();
        index.Match(topic, results);
        return [.. results];
    }
}
