using System.Text;
using System.Text.Json.Nodes;
using Trellis.Edge.Jobs;
using Trellis.Edge.Local;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Jobs;

public sealed class JobRoutesTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "trellis-jobroutes-" + Guid.NewGuid().ToString("N"));
    private readonly LocalRouter _router = new();
    private JobManager _jobs = null!;

    public ValueTask InitializeAsync()
    {
        _jobs = new JobManager(_root);
        _jobs.Start();
        JobRoutes.Map(_router, _jobs);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var job in _jobs.Snapshot().Where(static j => j.Status == "running"))
        {
            await _jobs.KillAsync(job.Id, force: true);
        }

        foreach (var job in _jobs.Snapshot())
        {
            _jobs.Remove(job.Id); // ends the groups' runners too
        }

        await _jobs.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Task<LocalResponse> CallAsync(string method, string pathAndQuery, string? body = null, bool fromCluster = false)
    {
        var parts = pathAndQuery.Split('?', 2);
        var query = parts.Length == 2
            ? parts[1].Split('&').Select(static p => p.Split('=', 2)).ToDictionary(static p => p[0], static p => p.Length == 2 ? Uri.UnescapeDataString(p[1]) : "")
            : [];
        return _router.DispatchAsync(new LocalRequest(method, parts[0], query, Encoding.UTF8.GetBytes(body ?? ""), fromCluster), TestContext.Current.CancellationToken);
    }

    private static JsonNode Json(LocalResponse response) => JsonNode.Parse(Encoding.UTF8.GetString(response.Body))!;

    private static string Text(LocalResponse response) => Encoding.UTF8.GetString(response.Body);

    private async Task<string> StatusAsync(string id, Func<string, bool> done, string what)
    {
        var row = await Waits.UntilAsync(async () => Json(await CallAsync("GET", "/v1/jobs", fromCluster: true)).AsArray().First(r => (string?)r!["id"] == id)!, r => done((string)r["status"]!), $"job {id} to be {what}");
        return (string)row["status"]!;
    }

    [Fact]
    public async Task Run_ps_stop_start_kill_and_rm_through_the_routes()
    {
        var created = await CallAsync("POST", "/v1/jobs", """{"name":"web","command":["sleep","60"],"restart":1}""", fromCluster: true);
        Assert.Equal(201, created.Status);
        var id = (string)Json(created)["id"]!;
        Assert.Equal("running", (string)Json(created)["status"]!);

        var stop = await CallAsync("POST", "/v1/jobs/web/stop?grace=5");
        Assert.Equal("stopped", (string)Json(stop)[0]!["status"]!);
        Assert.Equal("running", (string)Json(await CallAsync("POST", $"/v1/jobs/{id}/start"))[0]!["status"]!);

        var busy = await CallAsync("DELETE", $"/v1/jobs/{id}");
        Assert.Equal(409, busy.Status);
        Assert.Contains(id, Text(busy));

        Assert.Equal("killed:9", (string)Json(await CallAsync("POST", "/v1/jobs/w*/kill?force=true"))[0]!["status"]!);
        Assert.Equal(200, (await CallAsync("DELETE", $"/v1/jobs/{id}")).Status);
        Assert.Empty(Json(await CallAsync("GET", "/v1/jobs")).AsArray());
        Assert.Equal(404, (await CallAsync("POST", "/v1/jobs/web/kill")).Status);
    }

    [Theory]
    [InlineData("""{"command":[]}""", "command")]
    [InlineData("""{"command":"sleep 1"}""", "command")]
    [InlineData("""{"command":["true"],"restart":-1}""", "restart")]
    [InlineData("""{"command":["true"],"rm":"yes"}""", "rm")]
    [InlineData("""{"command":["true"],"name":"a b"}""", "name")]
    [InlineData("""{"command":["true"],"files":{"../x":""}}""", "files")]
    [InlineData("""{"command":["true"],"files":{"x":"not base64!"}}""", "files")]
    [InlineData("""not json""", "JSON")]
    public async Task Bad_input_is_a_400_naming_the_field(string body, string field)
    {
        var response = await CallAsync("POST", "/v1/jobs", body);
        Assert.Equal(400, response.Status);
        Assert.Contains(field, (string)Json(response)["error"]!["message"]!);
    }

    [Fact]
    public async Task Log_returns_the_text_and_follow_streams_until_the_job_ends()
    {
        var marker = Path.Combine(_root, "go-" + Guid.NewGuid().ToString("N"));
        var id = (string)Json(await CallAsync("POST", "/v1/jobs", new JsonObject
        {
            ["command"] = new JsonArray("sh", "-c", $"echo first; while [ ! -e '{marker}' ]; do sleep 0.05; done; echo last"),
        }.ToJsonString()))["id"]!;
        await Waits.UntilAsync(async () => Text(await CallAsync("GET", $"/v1/jobs/{id}/log")), static t => t.Contains("first"), $"the log of job {id} to hold 'first'");

        var follow = await CallAsync("GET", $"/v1/jobs/{id}/log?follow=true");
        Assert.NotNull(follow.Stream);
        Assert.Null((await CallAsync("GET", $"/v1/jobs/{id}/log?follow=true", fromCluster: true)).Stream);

        using var output = new MemoryStream();
        var streaming = follow.Stream!(output, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(marker, "", TestContext.Current.CancellationToken);
        await streaming.Within($"following the log of job {id} to end with the job");
        var text = Encoding.UTF8.GetString(output.ToArray());
        Assert.Contains("first", text);
        Assert.Contains("last", text);
    }

    [Fact]
    public async Task Joblist_save_and_load_round_trip_with_and_without_files()
    {
        var files = new JsonObject { ["run.sh"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("#!/bin/sh\necho \"it's \\\"quoted\\\"\" $1\n")) };
        await CallAsync("POST", "/v1/jobs", new JsonObject { ["name"] = "scripted", ["command"] = new JsonArray("./run.sh", "a b: #c"), ["files"] = files, ["restart"] = 2 }.ToJsonString());
        await CallAsync("POST", "/v1/jobs", new JsonObject { ["name"] = "grouped", ["command"] = new JsonArray("true"), ["group"] = "gr1", ["rm"] = false }.ToJsonString());

        var full = await CallAsync("POST", "/v1/joblist/save", fromCluster: true);
        Assert.StartsWith("text/yaml", full.ContentType);
        var yaml = Text(full);
        var tiny = Text(await CallAsync("POST", "/v1/joblist/save?tiny=true"));
        Assert.Contains("files:", yaml);
        Assert.DoesNotContain("files:", tiny);

        var specs = JobList.Parse(yaml);
        Assert.Equal(2, specs.Count);
        Assert.Equal(["./run.sh", "a b: #c"], specs[0].Command);
        Assert.Equal(2, specs[0].Restart);
        Assert.Equal("#!/bin/sh\necho \"it's \\\"quoted\\\"\" $1\n", Encoding.UTF8.GetString(specs[0].Files!["run.sh"]));
        Assert.Equal("gr1", specs[1].Group);
        Assert.Null(JobList.Parse(tiny)[0].Files);

        foreach (var job in _jobs.Snapshot())
        {
            await CallAsync("POST", $"/v1/jobs/{job.Id}/kill");
            await CallAsync("DELETE", $"/v1/jobs/{job.Id}");
        }

        var loaded = await CallAsync("POST", "/v1/joblist/load", yaml, fromCluster: true);
        Assert.Equal(200, loaded.Status);
        var id = (string)Json(loaded)["loaded"]![0]!["id"]!;
        Assert.StartsWith("exited:0", await StatusAsync(id, static s => s != "running", "ended"));
        Assert.Contains("it's \"quoted\" a b: #c", Text(await CallAsync("GET", $"/v1/jobs/{id}/log")));

        var asJsonString = await CallAsync("POST", "/v1/joblist/load", JsonValue.Create(tiny)!.ToJsonString());
        Assert.Equal(2, Json(asJsonString)["loaded"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("jobs:\n  - name: a\n    command: [\"true\"\n", 3)]
    [InlineData("jobs:\n  - name: a\n    command:\n      - true\n    restart: many\n", 5)]
    [InlineData("jobs:\n  - name: a\n    colour: red\n", 3)]
    [InlineData("services:\n  - name: a\n", 1)]
    [InlineData("jobs:\n  - name: \"unclosed\n", 2)]
    [InlineData("jobs:\n  - name: a\n", 2)]
    [InlineData("jobs:\n  - name: a\n    command: [x]\n    files:\n      \"f\": \"%%%\"\n", 5)]
    public async Task A_malformed_joblist_is_a_400_naming_the_line(string yaml, int line)
    {
        var response = await CallAsync("POST", "/v1/joblist/load", yaml);
        Assert.Equal(400, response.Status);
        Assert.Contains($"line {line}:", (string)Json(response)["error"]!["message"]!);
        Assert.Empty(_jobs.Snapshot());
    }
}
