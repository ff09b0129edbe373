using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Bad requests to the apps API get a 4xx whose message names the problem, never a 500.</summary>
public sealed class AppsBadInputTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private TestGateway _gateway = null!;
    private string _app = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(role: "silo");
        _app = $"b-{Guid.NewGuid():N}"[..20];
        await _gateway.PostAsync("/apps", new { app = _app, agent = "counter" }, Admin);
    }

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData("POST", "/apps", "{", 400, "not valid JSON")]
    [InlineData("POST", "/apps", "[]", 400, "must be a JSON object")]
    [InlineData("POST", "/apps", "{}", 400, "'app' is required")]
    [InlineData("POST", "/apps", "{\"app\":\"x\"}", 400, "'agent' is required")]
    [InlineData("POST", "/apps", "{\"app\":5,\"agent\":\"counter\"}", 400, "'app' must be a string")]
    [InlineData("POST", "/apps", "{\"app\":\"Bad App\",\"agent\":\"counter\"}", 400, "may only hold")]
    [InlineData("POST", "/apps", "{\"app\":\"x\",\"agent\":\"no-such-agent\"}", 404, "unknown agent 'no-such-agent'")]
    [InlineData("GET", "/apps/BAD!", null, 400, "may only hold")]
    [InlineData("GET", "/apps/nobody-here", null, 404, "does not exist")]
    [InlineData("POST", "/apps/nobody-here:poke", "{\"mark\":\"add\",\"data\":{\"by\":1}}", 404, "does not exist")]
    [InlineData("POST", "/apps/APP:poke", "{\"data\":1}", 400, "'mark' is required")]
    [InlineData("POST", "/apps/APP:poke", "{\"mark\":[1]}", 400, "'mark' must be a string")]
    [InlineData("POST", "/apps/APP:poke", "{\"mark\":\"add\",\"data\":{\"by\":1},\"id\":\"\"}", 400, "id must be")]
    [InlineData("POST", "/apps/APP:poke", "{\"mark\":\"add\",\"data\":{\"by\":\"x\"}}", 400, "add needs")]
    [InlineData("POST", "/apps/APP:peek", "{\"path\":\"count\"}", 400, "must start with '/'")]
    [InlineData("POST", "/apps/APP:peek", "{\"path\":\"/nothing\"}", 404, "nothing at")]
    [InlineData("POST", "/apps/APP:leave", "{\"subscriber\":\"a b\"}", 400, "subscriber must be")]
    [InlineData("GET", "/apps/APP:watch?path=/nope", null, 400, "not '/nope'")]
    [InlineData("GET", "/apps/APP:watch?path=x", null, 400, "must start with '/'")]
    [InlineData("POST", "/apps/APP:jump", "{}", 404, ":poke")]
    [InlineData("PUT", "/apps/APP", "{}", 405, "PUT")]
    [InlineData("GET", "/apps", null, 405, "GET")]
    public async Task Bad_requests_get_a_4xx_naming_the_problem(string method, string path, string? body, int status, string text)
    {
        var response = await _gateway.SendAsync(new HttpMethod(method), path.Replace("APP", _app, StringComparison.Ordinal), body, Admin);
        Assert.True(response.Status == status, $"{method} {path} {body} answered {response.Status}: {response.Body}");
        Assert.Contains(text, response.Body, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("/apps/APP:peek")]
    [InlineData("/apps/APP:poke")]
    [InlineData("/apps")]
    [InlineData("/nodes")]
    public async Task A_body_that_is_not_UTF8_is_400_even_in_a_property_name(string path)
    {
        // {"pa\xff\xfeth": "/"}: JSON that parses, with bytes in a property name that are not UTF-8.
        byte[] body = [.. "{\"pa"u8, 0xff, 0xfe, .. "th\":\"/\"}"u8];
        using var request = new HttpRequestMessage(HttpMethod.Post, path.Replace("APP", _app, StringComparison.Ordinal)) { Content = new ByteArrayContent(body) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Admin);
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        using var response = await _gateway.Http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True((int)response.StatusCode == 400, $"POST {path} with bad UTF-8 answered {(int)response.StatusCode}: {text}");
        Assert.Contains("not valid UTF-8 (at byte 4)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413_and_a_JSON_body_is_read_whatever_its_Content_Type()
    {
        var big = $"{{\"mark\":\"add\",\"data\":\"{new string('x', 2 * 1024 * 1024)}\"}}";
        Assert.Equal(413, (await _gateway.SendAsync(HttpMethod.Post, $"/apps/{_app}:poke", big, Admin)).Status);

        // What curl -d sends: JSON declared as a form.
        const string Form = "application/x-www-form-urlencoded";
        var app = $"f-{Guid.NewGuid():N}"[..20];
        var created = await _gateway.SendAsync(HttpMethod.Post, "/apps", $$"""{"app":"{{app}}","agent":"counter"}""", Admin, Form);
        Assert.True(created.Status == 201, $"create sent as a form answered {created}");
        var poke = await _gateway.SendAsync(HttpMethod.Post, $"/apps/{app}:poke", """{"mark":"add","data":{"by":2}}""", Admin, Form);
        Assert.True(poke.Status == 200, $"poke sent as a form answered {poke}");
        var peek = await _gateway.SendAsync(HttpMethod.Post, $"/apps/{app}:peek", """{"path":"/count"}""", Admin, "text/plain");
        Assert.True(peek.Status == 200 && (int)peek.Json["count"]! == 2, $"peek sent as text answered {peek}");

        var notJson = await _gateway.SendAsync(HttpMethod.Post, $"/apps/{app}:poke", "mark=add", Admin, Form);
        Assert.True(notJson.Status == 400, $"a form body answered {notJson}");
        Assert.Contains($"request body is not valid JSON (sent as '{Form}'", notJson.ErrorMessage);
    }
}
