using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>The apps API takes the admin token or a registered node's token; anything else is refused.</summary>
public sealed class AppsAuthTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _python = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(role: "silo");
        _python = await PythonNode.StartAsync("apps-auth");
    }

    public async ValueTask DisposeAsync()
    {
        await _python.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Theory]
    [InlineData("POST", "/apps")]
    [InlineData("GET", "/apps/x")]
    [InlineData("DELETE", "/apps/x")]
    [InlineData("POST", "/apps/x:poke")]
    [InlineData("POST", "/apps/x:peek")]
    [InlineData("POST", "/apps/x:wipe")]
    [InlineData("GET", "/apps/x:watch?path=/count")]
    [InlineData("POST", "/apps/x:leave")]
    public async Task Every_route_refuses_requests_without_a_valid_token(string method, string path)
    {
        var none = await _gateway.SendAsync(new HttpMethod(method), path, "{}");
        Assert.True(none.Status == 401, $"{method} {path} without a token answered {none.Status}: {none.Body}");
        Assert.StartsWith("Bearer", none.WwwAuthenticate);
        var wrong = await _gateway.SendAsync(new HttpMethod(method), path, "{}", token: "not-a-token-of-anyone");
        Assert.True(wrong.Status == 401, $"{method} {path} with a wrong token answered {wrong.Status}: {wrong.Body}");
    }

    [Fact]
    public async Task A_registered_node_token_may_use_apps_until_the_node_is_deleted()
    {
        var node = await _gateway.RegisterAsync(new { port = _python.Port });
        var app = $"a-{Guid.NewGuid():N}"[..20];
        var created = await _gateway.PostAsync("/apps", new { app, agent = "counter" }, node.Token);
        Assert.True(created.Status == 201, $"create with a node token answered {created.Status}: {created.Body}");
        Assert.Equal(200, (await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, node.Token)).Status);

        await _gateway.DeleteAsync($"/nodes/{node.Id}", node.Token);
        Assert.Equal(401, (await _gateway.GetAsync($"/apps/{app}", node.Token)).Status);
        Assert.Equal(200, (await _gateway.GetAsync($"/apps/{app}", TestGateway.AdminToken)).Status);
    }

    [Fact]
    public async Task Without_an_admin_token_configured_a_node_token_is_still_required()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Security:AdminToken"] = "" }, role: "silo");
        gateway.ExpectedErrors.Add("AdminToken");
        Assert.Equal(401, (await gateway.PostAsync("/apps", new { app = "x", agent = "counter" })).Status);
        Assert.Equal(401, (await gateway.PostAsync("/apps", new { app = "x", agent = "counter" }, TestGateway.AdminToken)).Status);
    }
}
