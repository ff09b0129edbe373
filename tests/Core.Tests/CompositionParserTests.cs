using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Xunit;

namespace Trellis.Core.Tests;

public sealed class CompositionParserTests
{
    [Fact]
    public void Parses_every_composer_and_nesting()
    {
        var parsed = CompositionParser.Parse("""
            {"pipe":[{"topic":"a","message":{"x":1},"timeout":1.5},
                     {"batch":[{"topic":"b"},{"parallel":[{"topic":"c"},{"oror":[{"topic":"d"}]}]}],"record":true},
                     {"andand":[{"topic":"e"}]}]}
            """);
        var pipe = Assert.IsType<Composer>(parsed);
        Assert.Equal(ComposerKind.Pipe, pipe.Kind);
        var first = Assert.IsType<RequestStep>(pipe.Steps[0]);
        Assert.Equal(("a", TimeSpan.FromSeconds(1.5)), (first.Topic, first.Timeout!.Value));
        Assert.Equal("{\"x\":1}", first.Message!.Value.ToString());
        var batch = Assert.IsType<Composer>(pipe.Steps[1]);
        Assert.True(batch.Record);
        Assert.Equal(ComposerKind.Parallel, Assert.IsType<Composer>(batch.Steps[1]).Kind);
    }

    [Theory]
    [InlineData("""{"pipe":[{"topc":"a"}]}""", "composition.pipe[0] has an unknown key \"topc\"")]
    [InlineData("""{"pipe":[{"topic":"a"}],"extra":1}""", "unknown key \"extra\"")]
    [InlineData("""{"sequence":[{"topic":"a"}]}""", "unknown key \"sequence\"")]
    [InlineData("""{"pipe":[]}""", "composition.pipe must be a non-empty array")]
    [InlineData("""{"pipe":{"topic":"a"}}""", "must be a non-empty array of steps, not an object")]
    [InlineData("""{"pipe":[{"topic":"a"}],"andand":[{"topic":"b"}]}""", "has both \"pipe\" and \"andand\"")]
    [InlineData("""{"pipe":[{"topic":"a"}],"record":true}""", "record is only valid with \"batch\"")]
    [InlineData("""{"batch":[{"topic":"a"}],"record":"yes"}""", "record must be true or false")]
    [InlineData("""{"pipe":[{"topic":"svc.*"}]}""", "wildcard")]
    [InlineData("""{"pipe":[{"topic":42}]}""", "topic must be a string, not the number 42")]
    [InlineData("""{"pipe":[{"topic":"a","timeout":-1}]}""", "timeout must be a positive number of seconds")]
    [InlineData("""{"pipe":[{"topic":"a","timeout":"5"}]}""", "timeout must be a positive number of seconds")]
    [InlineData("""{"pipe":[{"message":1}]}""", "needs a \"topic\"")]
    [InlineData("""[1,2]""", "composition must be an object")]
    [InlineData("""{"pipe":[{"topic":"a"}""", "not valid JSON")]
    public void Bad_compositions_are_refused_naming_the_problem(string json, string expected)
    {
        var e = Assert.Throws<TrellisException>(() => CompositionParser.Parse(json));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Depth_and_size_are_bounded()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"pipe\":[", 20)) + "{\"topic\":\"a\"}" + string.Concat(Enumerable.Repeat("]}", 20));
        Assert.Contains("deeper than", Assert.Throws<TrellisException>(() => CompositionParser.Parse(deep)).Message);

        var wide = "{\"parallel\":[" + string.Join(',', Enumerable.Repeat("{\"topic\":\"a\"}", 300)) + "]}";
        Assert.Contains("more than 256 steps", Assert.Throws<TrellisException>(() => CompositionParser.Parse(wide)).Message);
    }

    [Theory]
    [InlineData("{\"a\":1}", "{\"b\":2}", "{\"a\":1,\"b\":2}")]
    [InlineData("{\"a\":1}", "{\"a\":2}", "{\"a\":2}")]
    [InlineData("{\"a\":1}", null, "{\"a\":1}")]
    [InlineData("5", "{\"b\":2}", "{\"b\":2}")]
    [InlineData("null", "\"s\"", "\"s\"")]
    public void A_steps_message_is_merged_into_its_input(string input, string? message, string expected)
    {
        var merged = CompositionExecutor.Merge(
            Messaging.JsonPayload.Parse(input),
            message is null ? null : Messaging.JsonPayload.Parse(message));
        Assert.Equal(expected, merged.ToString());
    }
}
