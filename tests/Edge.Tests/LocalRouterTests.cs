using System.Text;
using System.Text.Json.Nodes;
using Trellis.Edge.Local;

namespace Trellis.Edge.Tests;

public sealed class LocalRouterTests
{
    private static LocalRequest Request(string method, string path, bool fromCluster = false) =>
        new(method, path, new Dictionary<string, string>(), [], fromCluster);

    private static JsonNode Body(LocalResponse response) => JsonNode.Parse(Encoding.UTF8.GetString(response.Body))!;

    [Fact]
    public async Task Routes_by_method_and_template_and_names_what_is_wrong()
    {
        var router = new LocalRouter();
        router.Map("GET", "/v1/jobs/{id}", (_, route, _) => Task.FromResult(LocalResponse.Ok(new JsonObject { ["id"] = route["id"] })), remote: true);
        router.Map("POST", "/v1/call/{topic}", (_, _, _) => Task.FromResult(LocalResponse.Ok(null)));
        router.Map("GET", "/v1/boom", (_, _, _) => throw new InvalidOperationException("secret detail"));
        router.Map("GET", "/v1/refuse", (_, _, _) => throw new LocalApiException(409, "already there"));

        var ok = await router.DispatchAsync(Request("GET", "/v1/jobs/a%20b"), TestContext.Current.CancellationToken);
        Assert.Equal(200, ok.Status);
        Assert.Equal("a b", (string)Body(ok)["id"]!);

        var wrongMethod = await router.DispatchAsync(Request("DELETE", "/v1/jobs/1"), TestContext.Current.CancellationToken);
        Assert.Equal(405, wrongMethod.Status);

        var unknown = await router.DispatchAsync(Request("GET", "/v2/nothing"), TestContext.Current.CancellationToken);
        Assert.Equal(404, unknown.Status);
        Assert.Contains("/v2/nothing", (string)Body(unknown)["error"]!["message"]!);

        var local = await router.DispatchAsync(Request("POST", "/v1/call/a.b", fromCluster: true), TestContext.Current.CancellationToken);
        Assert.Equal(403, local.Status);

        Exception? failed = null;
        router.Failed += (_, e) => failed = e;
        var boom = await router.DispatchAsync(Request("GET", "/v1/boom"), TestContext.Current.CancellationToken);
        Assert.Equal(500, boom.Status);
        Assert.DoesNotContain("secret detail", Encoding.UTF8.GetString(boom.Body));
        Assert.IsType<InvalidOperationException>(failed);

        var refused = await router.DispatchAsync(Request("GET", "/v1/refuse"), TestContext.Current.CancellationToken);
        Assert.Equal(409, refused.Status);
        Assert.Equal("already_exists", (string)Body(refused)["error"]!["code"]!);
    }
}
