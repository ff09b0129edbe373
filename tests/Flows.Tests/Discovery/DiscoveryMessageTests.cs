using System.Text;
using System.Text.Json.Nodes;
using Trellis.Flows.Discovery;
using Xunit;

namespace Trellis.Flows.Tests.Discovery;

public sealed class DiscoveryMessageTests
{
    private static readonly TimeSpan Default = TimeSpan.FromSeconds(600);

    /// <summary>Sent by msgflo-nodejs 0.11.1 on the <c>fbp</c> queue for tests/Interop/flows/repeat.js run as
    /// <c>msgflo-nodejs --name capture repeat.js</c> (captured from the wire).</summary>
    private const string Captured =
        """{"protocol":"discovery","command":"participant","payload":{"component":"trellis/Repeat","icon":"copy","label":"Sends on out what it gets on in","inports":[{"id":"in","type":"any","description":"anything","hidden":false,"queue":"capture.IN"}],"outports":[{"id":"out","type":"any","hidden":false,"queue":"capture.OUT"}],"role":"capture","id":"capture-d1a6a8f6-0857-4820-ba5c-bb5ea13b9701"}}""";

    /// <summary>msgflo's own example participant (msgflo-nodejs examples/Repeat.coffee run with <c>--name repeat</c>), captured from the wire.</summary>
    private const string MsgfloRepeat =
        """{"protocol":"discovery","command":"participant","payload":{"component":"Repeat","icon":"file-word-o","label":"Repeats in data without changes","inports":[{"id":"in","type":"any","hidden":false,"queue":"repeat.IN"}],"outports":[{"id":"out","type":"any","hidden":false,"queue":"repeat.OUT"}],"role":"repeat","id":"repeat-7e5ae100-6096-454b-87aa-86f3c1e1e899"}}""";

    [Fact]
    public void A_captured_msgflo_nodejs_announcement_parses_with_its_ports_and_payload()
    {
        Assert.True(DiscoveryMessage.TryParse(Encoding.UTF8.GetBytes(Captured), Default, out var definition, out var error), error);
        Assert.Equal("capture-d1a6a8f6-0857-4820-ba5c-bb5ea13b9701", definition.Id);
        Assert.Equal("capture", definition.Role);
        Assert.Equal("trellis/Repeat", definition.Component);
        Assert.Equal("Sends on out what it gets on in", definition.Label);
        Assert.Equal("copy", definition.Icon);
        Assert.Equal(Default, definition.Heartbeat);
        Assert.Equal([new ParticipantPort("in", "capture.IN", "any", "anything", true)], definition.Inports);
        Assert.Equal([new ParticipantPort("out", "capture.OUT", "any", null, true)], definition.Outports);
        Assert.Equal("capture.IN", definition.FindInport("IN")!.Queue);
        Assert.Null(definition.FindOutport("missing"));

        // The whole payload is kept, standing alone.
        Assert.Null(definition.Payload.Parent);
        Assert.Equal(JsonNode.Parse(Captured)!["payload"]!.ToJsonString(), definition.Payload.ToJsonString());
    }

    [Fact]
    public void Msgflos_example_participant_parses()
    {
        Assert.True(DiscoveryMessage.TryParse(Encoding.UTF8.GetBytes(MsgfloRepeat), Default, out var definition, out var error), error);
        Assert.Equal("repeat", definition.Role);
        Assert.Equal("Repeat", definition.Component);
        Assert.Null(definition.Inports[0].Description);
    }

    [Fact]
    public void A_declared_heartbeat_overrides_the_default()
    {
        var payload = Payload();
        payload["heartbeat"] = 12.5;
        Assert.True(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out var definition, out var error), error);
        Assert.Equal(TimeSpan.FromSeconds(12.5), definition.Heartbeat);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("\"10\"")]
    [InlineData("true")]
    [InlineData("1e12")]
    public void A_heartbeat_that_is_not_a_positive_number_of_seconds_is_refused(string heartbeat)
    {
        var payload = Payload();
        payload["heartbeat"] = JsonNode.Parse(heartbeat);
        Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out var error));
        Assert.StartsWith("discovery message .heartbeat must be a positive number of seconds", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("id")]
    [InlineData("component")]
    [InlineData("role")]
    [InlineData("inports")]
    [InlineData("outports")]
    public void A_missing_required_field_is_named(string field)
    {
        var payload = Payload();
        payload.Remove(field);
        Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out var error));
        Assert.Equal($"discovery message missing .{field}", error);

        // msgflo tests truthiness: an empty string is missing too.
        if (field is "id" or "component" or "role")
        {
            payload[field] = "";
            Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out error));
            Assert.Equal($"discovery message missing .{field}", error);
        }
    }

    [Theory]
    [InlineData("not json at all", "discovery message is not JSON")]
    [InlineData("", "discovery message is not JSON")]
    [InlineData("{\"protocol\":\"discovery\"", "discovery message is not JSON")]
    [InlineData("[1,2]", "discovery message is not a JSON object (was array)")]
    [InlineData("{\"protocol\":\"runtime\",\"command\":\"participant\",\"payload\":{}}", "unknown FBP message runtime:participant (expected discovery:participant)")]
    [InlineData("{\"protocol\":\"discovery\",\"command\":\"ping\",\"payload\":{}}", "unknown FBP message discovery:ping (expected discovery:participant)")]
    [InlineData("{\"payload\":{}}", "unknown FBP message (none):(none) (expected discovery:participant)")]
    [InlineData("{\"protocol\":\"discovery\",\"command\":\"participant\"}", "discovery message missing .payload")]
    [InlineData("{\"protocol\":\"discovery\",\"command\":\"participant\",\"payload\":[]}", "discovery message .payload must be an object (was array)")]
    public void Bad_messages_say_what_is_wrong(string body, string expected)
    {
        Assert.False(DiscoveryMessage.TryParse(Encoding.UTF8.GetBytes(body), Default, out var definition, out var error));
        Assert.Null(definition);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_ports_are_named_by_position()
    {
        var payload = Payload();
        payload["outports"] = new JsonArray(new JsonObject { ["id"] = "out", ["queue"] = "r.OUT" }, new JsonObject { ["queue"] = "r.X" });
        Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out var error));
        Assert.Equal("discovery message .outports[1] missing .id", error);

        payload["outports"] = new JsonArray("out");
        Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out error));
        Assert.Equal("discovery message .outports[0] must be an object (was string)", error);

        payload["outports"] = new JsonObject();
        Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out error));
        Assert.Equal("discovery message .outports must be an array (was object)", error);

        payload["outports"] = new JsonArray(new JsonObject { ["id"] = "out", ["persistent"] = "no" });
        Assert.False(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out _, out error));
        Assert.Equal("discovery message .outports[0].persistent must be true or false (was string)", error);
    }

    [Fact]
    public void Hidden_and_queueless_ports_have_no_queue_and_persistence_is_read()
    {
        var payload = Payload();
        payload["inports"] = new JsonArray(
            new JsonObject { ["id"] = "in", ["queue"] = "r.IN", ["persistent"] = false },
            new JsonObject { ["id"] = "secret", ["queue"] = "r.SECRET", ["hidden"] = true },
            new JsonObject { ["id"] = "bare" });
        Assert.True(DiscoveryMessage.TryParse(DiscoveryMessage.Create(payload), Default, out var definition, out var error), error);
        Assert.Equal(new ParticipantPort("in", "r.IN", null, null, Persistent: false), definition.Inports[0]);
        Assert.Null(definition.Inports[1].Queue);
        Assert.Null(definition.Inports[2].Queue);
        Assert.True(definition.Inports[2].Persistent);
    }

    private static JsonObject Payload() => new()
    {
        ["id"] = "r-1",
        ["component"] = "Repeat",
        ["role"] = "r",
        ["inports"] = new JsonArray(new JsonObject { ["id"] = "in", ["queue"] = "r.IN" }),
        ["outports"] = new JsonArray(new JsonObject { ["id"] = "out", ["queue"] = "r.OUT" }),
    };
}
