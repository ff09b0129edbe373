using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>Every kind of bad input gets a 4xx whose message names the field or the problem; never a 500.</summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private RegisteredNode _node = null!;
    private int _port;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Trellis:Nodes:MaxSubscriptionsPerNode"] = "3",
            ["Trellis:Nodes:MaxNodes"] = "4",
            ["Trellis:Messaging:MaxPayloadBytes"] = "4096",
        });
        _port = HealthTests.FreePort();
        _node = await _gateway.RegisterAsync(new { port = _port });
    }

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    private async Task Refused(string body, int status, string expected, string path = "/nodes", string contentType = "application/json", string? token = null)
    {
        var response = await _gateway.SendAsync(HttpMethod.Post, path, body, token, contentType);
        Assert.True(response.Status == status, $"{path} {body} → expected {status}, got {response}");
        Assert.Contains(expected, response.ErrorMessage);
    }

    [Theory]
    [InlineData("{\"port\":", "request body is not valid JSON")]
    [InlineData("[1,2]", "request body must be a JSON object, not an array")]
    [InlineData("\"text\"", "must be a JSON object, not a string")]
    [InlineData("", "request body is empty")]
    [InlineData("{}", "port is required")]
    [InlineData("{\"port\":\"8080\"}", "port must be an integer between 1 and 65535, not a string")]
    [InlineData("{\"port\":0}", "port must be an integer between 1 and 65535, not the number 0")]
    [InlineData("{\"port\":65536}", "port must be an integer between 1 and 65535")]
    [InlineData("{\"port\":80.5}", "port must be an integer")]
    [InlineData("{\"port\":1e400}", "port must be an integer")]
    [InlineData("{\"port\":8080,\"port\":8081}", "has the field 'port' twice")]
    [InlineData("{\"port\":8080,\"listen_sock\":\"/tmp/x\"}", "unknown field 'listen_sock'")]
    [InlineData("{\"port\":8080,\"slots\":{}}", "slots must be an array, not an object")]
    [InlineData("{\"port\":8080,\"services\":\"a\"}", "services must be an array, not a string")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"/a\"},{\"topic\":\"b\",\"path\":\"/b\"},{\"topic\":7,\"path\":\"/c\"}]}", "slots[2].topic must be a string, not the number 7")]
    [InlineData("{\"port\":8080,\"slots\":[3]}", "slots[0] must be an object")]
    [InlineData("{\"port\":8080,\"slots\":[{\"path\":\"/a\"}]}", "slots[0].topic is required")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\"}]}", "slots[0].path is required")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a b\",\"path\":\"/a\"}]}", "slots[0].topic 'a b' contains whitespace")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"path\":\"/a\"}]}", "services[0].group is required")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"group\":\"\",\"path\":\"/a\"}]}", "services[0].group is required")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a.*\",\"group\":\"g\",\"path\":\"/a\"}]}", "services[0].topic 'a.*' contains the wildcard")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"group\":\"g\",\"path\":\"/a\",\"timeout\":\"5\"}]}", "services[0].timeout must be a positive number of seconds, not a string")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"group\":\"g\",\"path\":\"/a\",\"timeout\":-1}]}", "services[0].timeout must be a positive number")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"group\":\"g\",\"path\":\"/a\",\"timeout\":99999}]}", "services[0].timeout of 99999 s is longer than the limit")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"group\":\"g\",\"path\":\"/a\",\"extra\":1}]}", "services[0] has an unknown field 'extra'")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"relative\"}]}", "slots[0].path must be an absolute path starting with '/'")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"/x/http://evil\"}]}", "slots[0].path may not contain '://'")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"/a/../b\"}]}", "slots[0].path may not contain '..'")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"/a\\\\b\"}]}", "slots[0].path may not contain a backslash")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"/a\\u0001\"}]}", "slots[0].path may not contain whitespace, control")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"//evil.example/x\"}]}", "slots[0].path may not start with '//'")]
    [InlineData("{\"port\":8080,\"health_check\":\"health\"}", "health_check must be an absolute path")]
    [InlineData("{\"port\":8080,\"health_check\":5}", "health_check must be a string, not the number 5")]
    [InlineData("{\"port\":8080,\"services\":[{\"topic\":\"a\",\"group\":\"g\",\"path\":\"/a\"},{\"topic\":\"a\",\"group\":\"g\",\"path\":\"/b\"}]}", "services[1] repeats the topic and group of services[0]")]
    [InlineData("{\"port\":8080,\"slots\":[{\"topic\":\"a\",\"path\":\"/a\"},{\"topic\":\"b\",\"path\":\"/a\"},{\"topic\":\"c\",\"path\":\"/a\"},{\"topic\":\"d\",\"path\":\"/a\"}]}", "at most 3 slots and services together")]
    public async Task Bad_registrations_are_refused_naming_the_problem(string body, string expected)
    {
        var response = await _gateway.SendAsync(HttpMethod.Post, "/nodes", body);
        Assert.True(response.Status is 400 or 409, $"expected 400 or 409 for {body}, got {response}");
        Assert.Contains(expected, response.ErrorMessage);
    }

    [Fact]
    public async Task Hosts_outside_the_allow_list_are_refused()
    {
        await Refused("""{"port":8080,"host":"169.254.169.254"}""", 403, "host '169.254.169.254' is not allowed");
        await Refused("""{"port":8080,"host":"localhost"}""", 403, "Trellis:Nodes:AllowedHosts");
    }

    [Fact]
    public async Task Over_long_topics_are_refused_with_the_kernels_limit()
    {
        var topic = new string('t', 256);
        await Refused($$"""{"port":8080,"slots":[{"topic":"{{topic}}","path":"/a"}]}""", 400, "slots[0].topic is 256 bytes long; the limit is 255");
        await Refused($$"""{"topic":"{{topic}}"}""", 400, "topic is 256 bytes long", $"/request/{_node.Id}", token: _node.Token);
    }

    [Fact]
    public async Task Bodies_are_read_as_JSON_whatever_their_Content_Type_and_huge_ones_get_413()
    {
        // curl -d declares application/x-www-form-urlencoded: the JSON body is read all the same (here it reaches the
        // field checks, the bus and the signal path).
        foreach (var type in new[] { "application/x-www-form-urlencoded", "text/plain", "application/octet-stream", "not a media type" })
        {
            await Refused("""{"port":0}""", 400, "port must be an integer between 1 and 65535, not the number 0", contentType: type);
            var reply = await _gateway.SendAsync(HttpMethod.Post, $"/request/{_node.Id}", """{"topic":"nobody.here"}""", _node.Token, type);
            Assert.True(reply.Status == 404 && (int)reply.Json["code"]! == 404, $"a request sent as {type} answered {reply}");
            var signal = await _gateway.SendAsync(HttpMethod.Post, $"/signal/{_node.Id}", """{"topic":"nobody.here"}""", _node.Token, type);
            Assert.True(signal.Status == 200, $"a signal sent as {type} answered {signal}");
        }

        using (var bare = new ByteArrayContent("""{"port":0}"""u8.ToArray()))
        {
            var missing = await _gateway.Http.PostAsync("/nodes", bare, TestContext.Current.CancellationToken);
            Assert.Equal(400, (int)missing.StatusCode);
            Assert.Contains("port must be an integer", await missing.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        // What is not JSON is refused as such, naming the type it was sent as; a charset other than UTF-8 cannot be JSON.
        await Refused("port=8080", 400, "request body is not valid JSON (sent as 'application/x-www-form-urlencoded'", contentType: "application/x-www-form-urlencoded");
        await Refused("--b\r\nContent-Disposition: form-data; name=\"port\"\r\n\r\n8080\r\n--b--", 400, "request body is not valid JSON (sent as 'multipart/form-data'", contentType: "multipart/form-data; boundary=b");
        await Refused("{\"port\":", 400, "request body is not valid JSON: ");
        await Refused("""{"port":8080}""", 415, "charset 'latin1' is not supported", contentType: "application/json; charset=latin1");

        // The body limit is MaxPayloadBytes (4096 here) plus 64 KiB for the envelope.
        var huge = "{\"port\":8080,\"pad\":\"" + new string('x', 200_000) + "\"}";
        await Refused(huge, 413, "the limit is 69632");

        var big = $$"""{"topic":"a","message":"{{new string('m', 5000)}}"}""";
        await Refused(big, 413, "message is 5002 bytes; the limit is 4096", $"/request/{_node.Id}", token: _node.Token);
        await Refused(big, 413, "message is 5002 bytes", $"/signal/{_node.Id}", token: _node.Token);
    }

    [Fact]
    public async Task Bad_requests_and_signals_are_refused_naming_the_field()
    {
        var request = $"/request/{_node.Id}";
        await Refused("""{"topic":"a","composition":{"pipe":[{"topic":"a"}]}}""", 400, "either topic or composition, not both", request, token: _node.Token);
        await Refused("""{"message":1}""", 400, "topic or composition is required", request, token: _node.Token);
        await Refused("""{"topic":5}""", 400, "topic must be a string, not the number 5", request, token: _node.Token);
        await Refused("""{"topic":"a.*"}""", 400, "contains the wildcard", request, token: _node.Token);
        await Refused("""{"topic":"a","timeout":"1"}""", 400, "timeout must be a positive number of seconds, not a string", request, token: _node.Token);
        await Refused("""{"topic":"a","timeout":0}""", 400, "timeout must be a positive number", request, token: _node.Token);
        await Refused("""{"topic":"a","extra":0}""", 400, "unknown field 'extra'", request, token: _node.Token);
        await Refused("""{"composition":{"pipe":[]}}""", 400, "composition.pipe must be a non-empty array", request, token: _node.Token);
        await Refused("""{"composition":{"pipe":[{"topic":"a"},{"nope":1}]}}""", 400, "composition.pipe[1]", request, token: _node.Token);
        await Refused("""{"composition":[1]}""", 400, "composition must be an object", request, token: _node.Token);

        var signal = $"/signal/{_node.Id}";
        await Refused("""{"message":1}""", 400, "topic is required", signal, token: _node.Token);
        await Refused("""{"topic":"a","timeout":1}""", 400, "unknown field 'timeout'", signal, token: _node.Token);
    }

    [Fact]
    public async Task Bad_subscription_changes_are_refused_naming_the_field()
    {
        var services = $"/nodes/{_node.Id}/services";
        await Refused("""{"topic":"a","path":"/a"}""", 400, "group is required", services, token: _node.Token);
        await Refused("""[]""", 400, "request body must be a JSON object", services, token: _node.Token);
        Assert.Equal(200, (await _gateway.PostAsync(services, new { topic = "a", group = "g", path = "/a" }, _node.Token)).Status);
        await Refused("""{"topic":"a","group":"g","path":"/b"}""", 409, "already has a service on topic 'a' in group 'g'", services, token: _node.Token);
        Assert.Equal(200, (await _gateway.PostAsync(services, new { topic = "b", group = "g", path = "/a" }, _node.Token)).Status);
        Assert.Equal(200, (await _gateway.PostAsync($"/nodes/{_node.Id}/slots", new { topic = "c", path = "/a" }, _node.Token)).Status);
        await Refused("""{"topic":"d","path":"/a"}""", 400, "the limit is 3 (Trellis:Nodes:MaxSubscriptionsPerNode)", $"/nodes/{_node.Id}/slots", token: _node.Token);

        var noTopic = await _gateway.DeleteAsync($"/nodes/{_node.Id}/slots", _node.Token);
        Assert.Equal(400, noTopic.Status);
        Assert.Contains("the query parameter topic is required", noTopic.ErrorMessage);
        var twice = await _gateway.DeleteAsync($"/nodes/{_node.Id}/slots?topic=c&topic=d", _node.Token);
        Assert.Equal(400, twice.Status);
        Assert.Contains("given 2 times", twice.ErrorMessage);
        var badPath = await _gateway.DeleteAsync($"/nodes/{_node.Id}/slots?topic=c&path=..", _node.Token);
        Assert.Equal(400, badPath.Status);
        Assert.Contains("path must be an absolute path", badPath.ErrorMessage);
    }

    [Fact]
    public async Task Registering_past_the_node_limit_gets_429()
    {
        for (var i = _gateway.Registry.Count; i < 4; i++)
        {
            await _gateway.RegisterAsync(new { port = _port });
        }

        var refused = await _gateway.PostAsync("/nodes", new { port = _port });
        Assert.Equal(429, refused.Status);
        Assert.Equal("RESOURCE_EXHAUSTED", refused.ErrorCode);
        Assert.Contains("Trellis:Nodes:MaxNodes", refused.ErrorMessage);
    }
}
