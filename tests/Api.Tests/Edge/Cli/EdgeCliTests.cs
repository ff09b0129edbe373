using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Trellis.Api.Edge;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.TestKit;
using static Trellis.Api.Tests.Activities.ActivityTesting;
using static Trellis.Api.Tests.Edge.Admin.EdgeAdminTesting;

namespace Trellis.Api.Tests.Edge.Cli;

/// <summary><c>trellis edge …</c> run in-process against a real gateway; a device's link is stood in for by a service on
/// the device's control topic that answers as the agent's local API would.</summary>
public sealed class EdgeCliTests : IAsyncLifetime
{
    private readonly TempFolder _temp = new();
    private TestGateway _gateway = null!;

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Trellis:Edge:BuildsDirectory"] = Path.Combine(_temp.Path, "builds"),
    });

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _temp.Dispose();
    }

    /// <summary>Runs <c>trellis edge ARGS --url … --token …</c> (the options before a <c>--</c>, after which all is the job's command).</summary>
    private Task<Run> Edge(params string[] args)
    {
        var split = Array.IndexOf(args, "--") is var i && i >= 0 ? i : args.Length;
        return CliAsync(["edge", .. args[..split], "--url", _gateway.Address.ToString(), "--token", AdminToken, .. args[split..]]);
    }

    /// <summary>Serves the device's control topic: records each command and answers with <paramref name="answer"/>.</summary>
    private async Task<(Subscription Subscription, ConcurrentQueue<JsonObject> Seen)> StandInAsync(string provider, Func<JsonObject, JsonObject> answer)
    {
        var seen = new ConcurrentQueue<JsonObject>();
        var bus = await BusAsync(_gateway);
        var subscription = await bus.ReplyToAsync(EdgeTopics.Control(provider), EdgeTopics.Group, (request, _) =>
        {
            var command = JsonNode.Parse(request.Data.ToString())!.AsObject();
            seen.Enqueue(command);
            return ValueTask.FromResult(Message.Ok(JsonPayload.Parse(answer(command).ToJsonString())));
        });
        return (subscription, seen);
    }

    [Fact]
    public async Task Token_issue_list_show_services_and_revoke()
    {
        var provider = NewProvider();
        var issue = await Edge("token", "issue", provider, "--grant", "sensors.*", "--grant", "db.read");
        Assert.True(issue.Exit == 0, issue.ToString());
        Assert.StartsWith("tdv_", issue.Out.Trim(), StringComparison.Ordinal);
        Assert.Contains("sensors.*, db.read", issue.Err, StringComparison.Ordinal);
        Assert.Equal(new[] { "sensors.*", "db.read" }, await Device(_gateway, provider).Authenticate(issue.Out.Trim()));

        var publisher = $"p{Guid.NewGuid():N}"[..10];
        await ConnectAsync(_gateway, provider, "link", (publisher, "temp"));
        var list = await Edge("list");
        Assert.True(list.Exit == 0, list.ToString());
        Assert.Contains("PROVIDER", list.Out, StringComparison.Ordinal);
        Assert.Matches($@"{provider}\s+online\s+1\.0\.0\s+linux-arm64\s+host-{provider}\s+{publisher}/temp\s+yes", list.Out);

        var show = await Edge("show", provider);
        Assert.True(show.Exit == 0, show.ToString());
        Assert.Contains("status:      online", show.Out, StringComparison.Ordinal);
        Assert.Matches(@"grant:\s+sensors\.\*, db\.read", show.Out);
        Assert.Matches(@"j1\s+-\s+web\s+1970-01-01T00:00:00.0000000Z\s+running", show.Out);
        var json = await Edge("show", provider, "-o", "json");
        Assert.Equal(provider, (string)JsonNode.Parse(json.Out)!["provider"]!);

        var services = await Edge("services", "-p", publisher, "-s", "t*");
        Assert.True(services.Exit == 0, services.ToString());
        Assert.Contains($"edge.{publisher}.temp.{provider}", services.Out, StringComparison.Ordinal);

        var revoke = await Edge("token", "revoke", provider);
        Assert.True(revoke.Exit == 0, revoke.ToString());
        Assert.Contains($"revoked the token of {provider}", revoke.Out, StringComparison.Ordinal);
        Assert.Matches($@"{provider}\s+online.*\s+no\s", (await Edge("list")).Out);
    }

    [Fact]
    public async Task Build_upload_and_builds()
    {
        var file = Path.Combine(_temp.Path, "trellis-edge");
        var bytes = RandomNumberGenerator.GetBytes(10_000);
        await File.WriteAllBytesAsync(file, bytes, TestContext.Current.CancellationToken);

        var upload = await Edge("build", "upload", "--arch", "linux-arm64", "--version", "1.2.0", file);
        Assert.True(upload.Exit == 0, upload.ToString());
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        Assert.Contains($"uploaded linux-arm64 1.2.0 sha256 {sha} (10000 bytes)", upload.Out, StringComparison.Ordinal);

        var builds = await Edge("builds");
        Assert.True(builds.Exit == 0, builds.ToString());
        Assert.Matches($@"linux-arm64\s+1\.2\.0\s+10000\s+{sha}", builds.Out);

        var bad = await Edge("build", "upload", "--arch", "Linux", "--version", "1.2.0", file);
        Assert.Equal(1, bad.Exit);
        Assert.Contains("arch 'Linux'", bad.Err, StringComparison.Ordinal);
        Assert.Equal(2, (await Edge("build", "upload", "--arch", "linux-x64", "--version", "1.0.0", Path.Combine(_temp.Path, "missing"))).Exit);
        Assert.Equal(2, (await Edge("build", "upload", "--version", "1.0.0", file)).Exit);
    }

    [Fact]
    public async Task Remote_jobs_go_through_the_commands_api_with_the_agents_local_paths()
    {
        var provider = NewProvider();
        await ConnectAsync(_gateway, provider, "link");
        var (subscription, seen) = await StandInAsync(provider, static c => ((string)c["method"]!, (string)c["path"]!) switch
        {
            ("GET", "/v1/jobs") => new JsonObject
            {
                ["status"] = 200,
                ["body"] = new JsonArray(new JsonObject { ["id"] = "a1", ["name"] = "web", ["group"] = "g1", ["startAt"] = "2026-12-05T10:00:00Z", ["status"] = "running", ["restarts"] = 0 }),
            },
            ("POST", "/v1/jobs") => new JsonObject { ["status"] = 201, ["body"] = new JsonObject { ["id"] = "b2", ["name"] = "sleeper" } },
            ("POST", "/v1/jobs/web/stop") or ("POST", "/v1/jobs/web/kill") or ("POST", "/v1/jobs/web/start") or ("DELETE", "/v1/jobs/web") =>
                new JsonObject { ["status"] = 200, ["body"] = new JsonObject { ["id"] = "a1" } },
            ("GET", "/v1/jobs/a1/log") => new JsonObject { ["status"] = 200, ["body"] = "line 1\nline 2\n" },
            ("POST", "/v1/joblist/save?tiny=true") => new JsonObject { ["status"] = 200, ["body"] = "jobs:\n- name: web\n" },
            ("POST", "/v1/joblist/load") => new JsonObject { ["status"] = 200, ["body"] = new JsonObject { ["loaded"] = 1 } },
            _ => new JsonObject { ["status"] = 404, ["body"] = new JsonObject { ["error"] = new JsonObject { ["code"] = "NOT_FOUND", ["message"] = "no such job" } } },
        });
        await using (subscription)
        {
            var ps = await Edge("ps", "-p", provider);
            Assert.True(ps.Exit == 0, ps.ToString());
            var lines = ps.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Matches(@"^ID\s+IN GROUP\s+NAME\s+START AT\s+STATUS$", lines[0]);
            Assert.Matches(@"^a1\s+g1\s+web\s+2026-12-05T10:00:00Z\s+running$", lines[1]);

            var run = await Edge("run", "-p", provider, "--name", "sleeper", "--restart", "2", "--rm", "--group", "g1", "--", "sleep", "--long", "60");
            Assert.True(run.Exit == 0, run.ToString());
            Assert.Equal("b2", run.Out.Trim());
            var created = seen.Single(c => (string)c["method"]! == "POST" && (string)c["path"]! == "/v1/jobs")["body"]!;
            Assert.Equal(["sleep", "--long", "60"], created["command"]!.AsArray().Select(static a => (string)a!));
            Assert.Equal("sleeper", (string)created["name"]!);
            Assert.Equal(2, (int)created["restart"]!);
            Assert.True((bool)created["rm"]!);
            Assert.Equal("g1", (string)created["group"]!);

            foreach (var verb in new[] { "stop", "kill", "start", "rm" })
            {
                var done = await Edge(verb, "-p", provider, "web");
                Assert.True(done.Exit == 0, $"{verb}: {done}");
                Assert.Equal("web", done.Out.Trim());
            }

            Assert.Contains(seen, static c => (string)c["method"]! == "DELETE" && (string)c["path"]! == "/v1/jobs/web");
            var partly = await Edge("stop", "-p", provider, "web", "ghost");
            Assert.Equal(1, partly.Exit);
            Assert.Equal("web", partly.Out.Trim());
            Assert.Contains("ghost: device " + provider + " answered 404: no such job", partly.Err, StringComparison.Ordinal);

            var log = await Edge("log", "-p", provider, "a1");
            Assert.True(log.Exit == 0, log.ToString());
            Assert.Equal("line 1\nline 2\n", log.Out);

            var file = Path.Combine(_temp.Path, "jobs.yaml");
            var save = await Edge("joblist", "save", "-p", provider, "--tiny", "--file", file);
            Assert.True(save.Exit == 0, save.ToString());
            Assert.Equal("jobs:\n- name: web\n", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken));
            var load = await Edge("joblist", "load", "-p", provider, "--file", file);
            Assert.True(load.Exit == 0, load.ToString());
            Assert.Equal("jobs:\n- name: web\n", (string)seen.Last()["body"]!);
        }
    }

    [Fact]
    public async Task Offline_devices_bad_usage_and_an_unreachable_gateway_have_their_exit_codes()
    {
        var provider = NewProvider();
        await IssueTokenAsync(_gateway, provider);
        var offline = await Edge("ps", "-p", provider);
        Assert.Equal(1, offline.Exit);
        Assert.Contains($"404 device {provider} is offline", offline.Err, StringComparison.Ordinal);

        Assert.Equal(2, (await Edge("ps")).Exit);
        Assert.Equal(2, (await Edge("run", "-p", provider)).Exit);
        Assert.Equal(2, (await Edge("list", "-o", "xml")).Exit);

        var unreachable = await CliAsync("edge", "list", "--url", $"http://127.0.0.1:{FreePorts.Take(1)[0]}");
        Assert.Equal(3, unreachable.Exit);
        Assert.Equal(1, (await CliAsync("edge", "list", "--url", _gateway.Address.ToString(), "--token", "not-the-admin-token-0123456789")).Exit);
    }
}
