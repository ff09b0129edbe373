using System.Diagnostics;
using System.Net.Http.Headers;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>The HTTP semantic-convention tags on a gateway's server span: the request's (method, scheme, path, server,
/// user agent), then its status code, route and name.</summary>
public sealed class ServerSpanTagsTests
{
    [Fact]
    public async Task A_server_span_carries_the_requests_tags_and_its_outcome()
    {
        var spans = new SpanSink();
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Transport:Provider"] = "InMemory" }, configure: spans.Attach);
        var trace = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(gateway.Address, "/healthz"));
        request.Headers.Host = "cluster.example:8443";
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("trellis-test", "1.0"));
        request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");

        using var response = await gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.True(response.IsSuccessStatusCode, $"GET /healthz answered {(int)response.StatusCode}");
        var server = await OneTraceTestsBase.SpanAsync(spans, trace, static a => a.Kind == ActivityKind.Server, "the server span");
        var tags = string.Join(", ", server.TagObjects.Select(static t => $"{t.Key}={t.Value}"));
        Assert.True(Equals("GET", server.GetTagItem("http.request.method")), tags);
        Assert.True(Equals("http", server.GetTagItem("url.scheme")), tags);
        Assert.True(Equals("/healthz", server.GetTagItem("url.path")), tags);
        Assert.True(Equals("cluster.example", server.GetTagItem("server.address")), tags);
        Assert.True(Equals(8443, server.GetTagItem("server.port")), tags);
        Assert.True(Equals("trellis-test/1.0", server.GetTagItem("user_agent.original")), tags);
        Assert.True(Equals(200, server.GetTagItem("http.response.status_code")), tags);
        Assert.True(Equals("/healthz", server.GetTagItem("http.route")), tags);
        Assert.Equal("GET /healthz", server.DisplayName);
        Assert.Equal(1, server.TagObjects.Count(static t => t.Key == "http.request.method"));
    }

    [Fact]
    public async Task A_method_outside_HTTPs_own_is_tagged_as_other_with_its_name_kept()
    {
        var spans = new SpanSink();
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Transport:Provider"] = "InMemory" }, configure: spans.Attach);
        var trace = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(new HttpMethod("BREW"), new Uri(gateway.Address, "/healthz"));
        request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");

        using var response = await gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);

        var server = await OneTraceTestsBase.SpanAsync(spans, trace, static a => a.Kind == ActivityKind.Server, "the server span");
        var tags = string.Join(", ", server.TagObjects.Select(static t => $"{t.Key}={t.Value}"));
        Assert.True(Equals("_OTHER", server.GetTagItem("http.request.method")), tags);
        Assert.True(Equals("BREW", server.GetTagItem("http.request.method_original")), tags);
        Assert.True(Equals((int)response.StatusCode, server.GetTagItem("http.response.status_code")), tags);
        Assert.True(Equals(gateway.Address.Port, server.GetTagItem("server.port")), tags);
        Assert.Null(server.GetTagItem("user_agent.original"));
    }
}
