using Trellis.Grpc.Transcoding.Internal;

namespace Trellis.Grpc.Tests.Transcoding;

public sealed class HttpTemplateTests
{
    [Theory]
    [InlineData("/v1/shelves", "/v1/shelves", null, "")]
    [InlineData("/v1/shelves/{shelf}", "/v1/shelves/*", null, "shelf")]
    [InlineData("/v1/{name=shelves/*/books/*}", "/v1/shelves/*/books/*", null, "name")]
    [InlineData("/v1/{name=**}", "/v1/**", null, "name")]
    [InlineData("/v1/books:search", "/v1/books", "search", "")]
    [InlineData("/v1/{name=books/*}:publish", "/v1/books/*", "publish", "name")]
    [InlineData("/v1/*/x/{a.b.c}", "/v1/*/x/*", null, "a.b.c")]
    [InlineData("/v1/{a}/{b}", "/v1/*/*", null, "a,b")]
    public void Parses_valid_templates(string text, string shape, string? verb, string variables)
    {
        var template = HttpTemplate.Parse(text);
        Assert.Equal(shape + (verb is null ? string.Empty : ":" + verb), template.ToString());
        Assert.Equal(verb, template.Verb);
        Assert.Equal(variables, string.Join(",", template.VariablePaths()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("v1/shelves")]
    [InlineData("/v1/{shelf")]
    [InlineData("/v1//x")]
    [InlineData("/v1/x/")]
    [InlineData("/v1/**/x")]
    [InlineData("/v1/{}")]
    [InlineData("/v1/{1abc}")]
    [InlineData("/v1/x{y}")]
    [InlineData("/v1/x:")]
    [InlineData("/v1/a*b")]
    public void Rejects_invalid_templates(string text) => Assert.Throws<FormatException>(() => HttpTemplate.Parse(text));
}
