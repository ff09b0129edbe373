using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Edge.Published;

/// <summary>What the published-agent tests share: a device's token from the admin API, the device's record, a request
/// through the reverse proxy.</summary>
internal static class PublishedTesting
{
    public static string NewProvider() => $"pub{Guid.NewGuid():N}"[..20];

    /// <summary><c>POST /edge/devices/{provider}/token</c> as the admin: the device's token.</summary>
    public static async Task<string> IssueTokenAsync(TestGateway gateway, string provider, params string[] grant)
    {
        var issued = await gateway.PostAsync($"/edge/devices/{provider}/token", new { grant }, TestGateway.AdminToken);
        Assert.True(issued.Status == 200, $"issuing the token of {provider} answered {issued}");
        return (string)issued.Json["token"]!;
    }

    /// <summary>Waits until <c>GET /edge/devices/{provider}</c> satisfies <paramref name="done"/>; a timeout names the last
    /// record and the agent's output.</summary>
    public static Task<JsonNode> DeviceAsync(TestGateway gateway, AgentProcess agent, string provider, Func<JsonNode, bool> done, string what, TimeSpan timeout) =>
        agent.UntilAsync(
            async () =>
            {
                var device = await gateway.GetAsync($"/edge/devices/{provider}", TestGateway.AdminToken);
                return device.Status == 200 ? device.Json : new JsonObject { ["status"] = $"GET answered {device.Status}", ["body"] = device.Body };
            },
            done,
            what,
            timeout);

    public static bool OnlineWith(JsonNode device, string service) =>
        (string?)device["status"] == "online" && device["services"] is JsonArray services && services.Any(s => (string?)s?["service"] == service);

    /// <summary>A node's <c>POST /request/{id}</c> to <paramref name="topic"/>.</summary>
    public static Task<Response> RequestAsync(TestGateway gateway, RegisteredNode node, string topic, int n) =>
        gateway.PostAsync($"/request/{node.Id}", new { topic, message = new { n } }, node.Token);
}
