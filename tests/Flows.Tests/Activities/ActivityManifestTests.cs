using Trellis.Core.Errors;
using Trellis.Flows.Activities;
using Xunit;

namespace Trellis.Flows.Tests.Activities;

public sealed class ActivityManifestTests
{
    private const string Id = "53ce2372-f6ef-4037-84cb-15bbec5ada5b";

    [Fact]
    public void A_full_manifest_reads_with_defaults_for_ports()
    {
        var m = ActivityManifest.Parse($$"""{"id":"{{Id}}","name":"@acme/upper","version":"1.2.0","tags":["text"],"entry":["/usr/bin/python3","main.py"]}""");

        Assert.Equal(Guid.Parse(Id), m.Id);
        Assert.Equal("@acme/upper", m.Name);
        Assert.Equal("acme-upper", m.Role);
        Assert.Equal(["in"], m.Inports);
        Assert.Equal(["out"], m.Outports);
        Assert.Equal("acme-upper.IN", m.QueueOf("in"));
        Assert.Equal(["/usr/bin/python3", "main.py"], m.Entry);
    }

    [Fact]
    public void Ports_and_role_can_be_given_and_an_entry_string_is_split()
    {
        var m = ActivityManifest.Parse($$$"""{"id":"{{{Id}}}","name":"split","role":"splitter","entry":"node main.js","ports":{"in":["text","Config"],"out":["words"]}}""");

        Assert.Equal("splitter", m.Role);
        Assert.Equal(["text", "config"], m.Inports);
        Assert.Equal("splitter.CONFIG", m.QueueOf("config"));
        Assert.Equal(["node", "main.js"], m.Entry);
    }

    [Theory]
    [InlineData("""{"name":"a","entry":["x"]}""", "'id' is missing")]
    [InlineData("""{"id":"not-a-uuid","name":"a","entry":["x"]}""", "'id' must be a UUID")]
    [InlineData("""{"id":"00000000-0000-0000-0000-000000000000","name":"a","entry":["x"]}""", "'id' must be a UUID")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"a","entry":[]}""", "'entry' is empty")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"a"}""", "'entry' is empty")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"Bad Name","entry":["x"]}""", "'name' 'Bad Name' is not a valid name")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"@/x","entry":["x"]}""", "'name' '@/x' is not a valid name")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","entry":["x"]}""", "'name' is missing")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"a","entry":[1]}""", "'entry' must be an array of strings")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"a","entry":["x"],"ports":{"in":["a b"]}}""", "'ports.in' has a bad or repeated port")]
    [InlineData("""{"id":"53ce2372-f6ef-4037-84cb-15bbec5ada5b","name":"a","entry":["x"],"tags":["ok","no spaces"]}""", "'tags' has a bad tag")]
    [InlineData("""[1,2]""", "must be a JSON object")]
    [InlineData("""{"id":""", "not valid JSON")]
    public void Bad_manifests_are_refused_naming_the_field(string json, string expected)
    {
        var e = Assert.Throws<TrellisException>(() => ActivityManifest.Parse(json, "x/activity.json"));

        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("x/activity.json:", e.Message);
    }

    [Fact]
    public void A_manifest_survives_a_save_and_load()
    {
        using var dir = new Trellis.TestKit.TempFolder();
        var m = new ActivityManifest(Guid.NewGuid(), "@s/n", "2.0.0", "d", ["t"], ["sh", "-c", "cat"], ["in", "cfg"], ["out"], "star");

        m.Save(dir.Path);
        var back = ActivityManifest.Load(dir.Path);

        Assert.Equal(m.ToJson().ToJsonString(), back.ToJson().ToJsonString());
    }

    [Fact]
    public void The_samples_are_valid()
    {
        foreach (var dir in Directory.GetDirectories(Samples.Directory))
        {
            var m = ActivityManifest.Load(dir);
            Assert.Contains("samples", m.Tags);
        }
    }
}
