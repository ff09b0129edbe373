using System.Text.Json.Nodes;
using Trellis.Api.Edge;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Messaging;
using Trellis.TestKit;
using static Trellis.Api.Tests.Edge.Admin.EdgeAdminTesting;

namespace Trellis.Api.Tests.Edge.Admin;

/// <summary>The edge admin HTTP API on a real gateway: tokens, devices, WAN discovery, commands to devices, the admin
/// token, and the reserved edge topics for nodes.</summary>
public sealed class EdgeDevicesApiTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task A_token_is_shown_once_the_device_is_listed_without_it_and_revoking_signals_the_link_holder()
    {
        var provider = NewProvider();
        var issued = await _gateway.PostAsync($"/edge/devices/{provider}/token", new { grant = new[] { "sensors.*", "db.read" } }, AdminToken);
        Assert.Equal(200, issued.Status);
        Assert.Equal(["grant", "provider", "token"], issued.Json.AsObject().Select(p => p.Key).Order());
        Assert.Equal(provider, (string)issued.Json["provider"]!);
        Assert.StartsWith("tdv_", (string)issued.Json["token"]!, StringComparison.Ordinal);
        Assert.Equal(["sensors.*", "db.read"], issued.Json["grant"]!.AsArray().Select(static g => (string)g!));

        var shown = await _gateway.GetAsync($"/edge/devices/{provider}", AdminToken);
        Assert.Equal(200, shown.Status);
        var device = shown.Json.AsObject();
        Assert.Equal(
            ["arch", "autoUpdate", "connectedAt", "grant", "hasToken", "hostname", "jobs", "lastSeen", "provider", "services", "status", "version"],
            device.Select(p => p.Key).Order());
        Assert.Equal("offline", (string)device["status"]!);
        Assert.True((bool)device["hasToken"]!);
        Assert.DoesNotContain((string)issued.Json["token"]!, shown.Body, StringComparison.Ordinal);

        var list = await _gateway.GetAsync("/edge/devices", AdminToken);
        Assert.Contains(list.Json.AsArray(), d => (string)d!["provider"]! == provider);

        var revoked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = await BusAsync(_gateway);
        await using var slot = await bus.SlotAsync(EdgeTopics.Revoked(provider), (_, _) =>
        {
            revoked.TrySetResult();
            return ValueTask.CompletedTask;
        });
        var deleted = await _gateway.DeleteAsync($"/edge/devices/{provider}/token", AdminToken);
        Assert.Equal(200, deleted.Status);
        Assert.False((bool)deleted.Json["hasToken"]!);
        await revoked.Task.Within($"the signal {EdgeTopics.Revoked(provider)} after DELETE /edge/devices/{provider}/token");
    }

    [Fact]
    public async Task Unknown_devices_are_404_and_bad_provider_ids_and_grants_are_400_naming_them()
    {
        var unknown = NewProvider();
        var get = await _gateway.GetAsync($"/edge/devices/{unknown}", AdminToken);
        Assert.Equal(404, get.Status);
        Assert.Contains($"device {unknown} is unknown", get.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(404, (await _gateway.DeleteAsync($"/edge/devices/{unknown}/token", AdminToken)).Status);

        var bad = await _gateway.PostAsync("/edge/devices/Not_Valid/token", new { grant = Array.Empty<string>() }, AdminToken);
        Assert.Equal(400, bad.Status);
        Assert.Contains("'Not_Valid'", bad.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(400, (await _gateway.GetAsync($"/edge/devices/{new string('a', 65)}", AdminToken)).Status);

        var badGrant = await _gateway.PostAsync($"/edge/devices/{NewProvider()}/token", new { grant = new[] { "ok.*", "" } }, AdminToken);
        Assert.Equal(400, badGrant.Status);
        Assert.Contains("grant[1]", badGrant.ErrorMessage, StringComparison.Ordinal);
        var notJson = await _gateway.SendAsync(HttpMethod.Post, $"/edge/devices/{NewProvider()}/token", "{nope", AdminToken);
        Assert.Equal(400, notJson.Status);
        Assert.Equal(405, (await _gateway.SendAsync(HttpMethod.Put, "/edge/devices", "{}", AdminToken)).Status);
        Assert.Equal(404, (await _gateway.GetAsync("/edge/nothing", AdminToken)).Status);
    }

    [Fact]
    public async Task The_admin_token_is_required()
    {
        var none = await _gateway.GetAsync("/edge/devices", token: null);
        Assert.Equal(401, none.Status);
        var wrong = await _gateway.GetAsync("/edge/devices", "not-the-admin-token-0123456789");
        Assert.Equal(403, wrong.Status);
        Assert.Contains("admin token", wrong.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(403, (await _gateway.PostAsync($"/edge/devices/{NewProvider()}/token", new { }, "not-the-admin-token-0123456789")).Status);

        // A device's own token is not an admin token.
        var provider = NewProvider();
        var token = await IssueTokenAsync(_gateway, provider);
        Assert.Equal(403, (await _gateway.GetAsync($"/edge/devices/{provider}", token)).Status);
    }

    [Fact]
    public async Task Discovery_lists_the_services_of_online_devices_matching_the_patterns()
    {
        var a = NewProvider();
        var b = NewProvider();
        var gone = NewProvider();
        var publisher = $"pub{Guid.NewGuid():N}"[..12];
        await ConnectAsync(_gateway, a, "link-a", (publisher, "temperature"), (publisher, "camera"));
        await ConnectAsync(_gateway, b, "link-b", (publisher, "temperature"));
        await ConnectAsync(_gateway, gone, "link-g", (publisher, "temperature"));
        await Device(_gateway, gone).Disconnected("link-g");

        var found = await _gateway.GetAsync($"/edge/services?publisher={publisher}&service=temp*", AdminToken);
        Assert.Equal(200, found.Status);
        var services = found.Json.AsArray().Select(static s => s!.AsObject()).ToList();
        Assert.Equal(new[] { a, b }.Order(), services.Select(static s => (string)s["provider"]!).Order());
        var first = services.Single(s => (string)s["provider"]! == a);
        Assert.Equal(publisher, (string)first["publisher"]!);
        Assert.Equal("temperature", (string)first["service"]!);
        Assert.Equal($"edge.{publisher}.temperature.{a}", (string)first["topic"]!);

        var all = await _gateway.GetAsync($"/edge/services?publisher={publisher}", AdminToken);
        Assert.Equal(3, all.Json.AsArray().Count);

        var shown = await _gateway.GetAsync($"/edge/devices/{a}", AdminToken);
        Assert.Equal("online", (string)shown.Json["status"]!);
        Assert.Equal("1.0.0", (string)shown.Json["version"]!);
        Assert.Equal("linux-arm64", (string)shown.Json["arch"]!);
        Assert.Equal(2, shown.Json["services"]!.AsArray().Count);
        Assert.Equal("web", (string)shown.Json["jobs"]![0]!["name"]!);
        Assert.Equal("offline", (string)(await _gateway.GetAsync($"/edge/devices/{gone}", AdminToken)).Json["status"]!);

        Assert.Equal(400, (await _gateway.GetAsync("/edge/services?publisher=a%20b", AdminToken)).Status);
    }

    [Fact]
    public async Task Commands_reach_the_link_holder_on_the_control_topic_and_an_offline_device_is_404()
    {
        var offline = NewProvider();
        await IssueTokenAsync(_gateway, offline);
        var refused = await _gateway.PostAsync($"/edge/devices/{offline}/commands", new { method = "GET", path = "/v1/jobs" }, AdminToken);
        Assert.Equal(404, refused.Status);
        Assert.Contains($"device {offline} is offline", refused.ErrorMessage, StringComparison.Ordinal);

        var unknown = NewProvider();
        Assert.Contains("unknown", (await _gateway.PostAsync($"/edge/devices/{unknown}/commands", new { method = "GET", path = "/v1/jobs" }, AdminToken)).ErrorMessage, StringComparison.Ordinal);

        // A stand-in for the gateway holding the device's link: it serves the control topic and answers as the device did.
        var provider = NewProvider();
        await ConnectAsync(_gateway, provider, "link");
        JsonNode? seen = null;
        var bus = await BusAsync(_gateway);
        await using var control = await bus.ReplyToAsync(EdgeTopics.Control(provider), EdgeTopics.Group, (request, _) =>
        {
            seen = JsonNode.Parse(request.Data.ToString());
            return ValueTask.FromResult(Message.Ok(JsonPayload.Parse("""{"status":201,"body":{"id":"j7","name":"worker"}}""")));
        });
        var run = await _gateway.PostAsync($"/edge/devices/{provider}/commands",
            new { method = "post", path = "/v1/jobs", body = new { command = new[] { "sleep", "60" } }, priority = "high", timeout = 5 }, AdminToken);
        Assert.True(run.Status == 200, run.Body);
        Assert.Equal(201, (int)run.Json["status"]!);
        Assert.Equal("j7", (string)run.Json["body"]!["id"]!);
        Assert.Equal("POST", (string)seen!["method"]!);
        Assert.Equal("/v1/jobs", (string)seen["path"]!);
        Assert.Equal("high", (string)seen["priority"]!);
        Assert.Equal(5, (double)seen["timeout"]!);
        Assert.Equal("sleep", (string)seen["body"]!["command"]![0]!);

        foreach (var (body, problem) in new (object, string)[]
                 {
                     (new { path = "/v1/jobs" }, "method is required"),
                     (new { method = "PATCH", path = "/v1/jobs" }, "'PATCH'"),
                     (new { method = "GET", path = "jobs" }, "'jobs'"),
                     (new { method = "GET", path = "/v1/jobs", priority = "urgent" }, "'urgent'"),
                     (new { method = "GET", path = "/v1/jobs", timeout = -1 }, "timeout"),
                     (new { method = "GET", path = "/v1/jobs", extra = 1 }, "'extra'"),
                 })
        {
            var bad = await _gateway.PostAsync($"/edge/devices/{provider}/commands", body, AdminToken);
            Assert.True(bad.Status == 400, $"{System.Text.Json.JsonSerializer.Serialize(body)} answered {bad.Status}: {bad.Body}");
            Assert.Contains(problem, bad.ErrorMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_command_the_device_does_not_answer_in_time_is_504()
    {
        var provider = NewProvider();
        await ConnectAsync(_gateway, provider, "link");
        var bus = await BusAsync(_gateway);
        await using var control = await bus.ReplyToAsync(EdgeTopics.Control(provider), EdgeTopics.Group, async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return Message.Ok(JsonPayload.Null);
        });
        var late = await _gateway.PostAsync($"/edge/devices/{provider}/commands", new { method = "GET", path = "/v1/jobs", timeout = 0.3 }, AdminToken);
        Assert.Equal(504, late.Status);
        Assert.Contains($"device {provider} did not answer", late.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nodes_may_not_register_slots_or_services_under_the_edge_prefix()
    {
        var service = await _gateway.PostAsync("/nodes", new { port = 1, health_check = "/health", services = new[] { new { topic = "edge.acme.temp", group = "g", path = "/t" } } });
        Assert.Equal(400, service.Status);
        Assert.Contains("services[0].topic 'edge.acme.temp' is reserved", service.ErrorMessage, StringComparison.Ordinal);

        var slot = await _gateway.PostAsync("/nodes", new { port = 1, health_check = "/health", slots = new[] { new { topic = "edge._revoked.*", path = "/t" } } });
        Assert.Equal(400, slot.Status);
        Assert.Contains("is reserved", slot.ErrorMessage, StringComparison.Ordinal);

        var exact = await _gateway.PostAsync("/nodes", new { port = 1, health_check = "/health", slots = new[] { new { topic = "edge", path = "/t" } } });
        Assert.Equal(400, exact.Status);
    }
}
