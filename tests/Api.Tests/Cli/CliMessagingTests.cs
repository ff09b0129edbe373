using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;
using Trellis.Hosting.Messaging;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Cli;

/// <summary><c>trellis request|signal|compose</c> against a real gateway, with services and slots on its bus.</summary>
public sealed class CliMessagingTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private CliTesting _cli = null!;
    private MessageBus _bus = null!;
    private readonly string _prefix = $"cli{Guid.NewGuid():N}"[..12];
    private readonly List<Subscription> _subscriptions = [];

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _cli = new CliTesting(_gateway);
        _bus = await _gateway.Services.GetRequiredService<BusHost>().Started;
        // "<prefix>.echo" answers {"got": data}; "<prefix>.tag" adds "tagged": true to an object.
        _subscriptions.Add(await _bus.ReplyToAsync($"{_prefix}.echo", "_default", static (request, _) =>
            ValueTask.FromResult(Message.Ok(JsonPayload.Parse($"{{\"got\":{request.Data}}}")))));
        _subscriptions.Add(await _bus.ReplyToAsync($"{_prefix}.tag", "_default", static (request, _) =>
        {
            var data = JsonNode.Parse(request.Data.ToString())!.AsObject();
            data["tagged"] = true;
            return ValueTask.FromResult(Message.Ok(JsonPayload.Parse(data.ToJsonString())));
        }));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var subscription in _subscriptions)
        {
            await subscription.DisposeAsync();
        }

        _cli.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Request_takes_data_inline_from_a_file_and_from_stdin()
    {
        var inline = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", """{"n":1}""");
        Assert.True(inline.Exit == CliApp.Ok, inline.ToString());
        Assert.Equal(1, (int)inline.Json["got"]!["n"]!);

        var file = _cli.File("message.json", """{"n":2,"text":"from a file"}""");
        var fromFile = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", "@" + file, "--timeout", "5");
        Assert.True(fromFile.Exit == CliApp.Ok, fromFile.ToString());
        Assert.Equal("from a file", (string)fromFile.Json["got"]!["text"]!);

        var fromStdin = await _cli.RunAsync(["request", $"{_prefix}.echo", "-d", "@-", "--url", _gateway.Address.ToString(), "--token", TestGateway.AdminToken],
            """{"n":3}""", CancellationToken.None);
        Assert.True(fromStdin.Exit == CliApp.Ok, fromStdin.ToString());
        Assert.Equal(3, (int)fromStdin.Json["got"]!["n"]!);

        var none = await _cli.AdminAsync("request", $"{_prefix}.echo");
        Assert.True(none.Exit == CliApp.Ok, none.ToString());
        Assert.Null(none.Json["got"]);
    }

    [Fact]
    public async Task Request_output_as_yaml_and_table()
    {
        var yaml = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", """{"n":1,"name":"x","list":[1,"two"],"empty":""}""", "-o", "yaml");
        Assert.True(yaml.Exit == CliApp.Ok, yaml.ToString());
        Assert.Equal("got:\n  n: 1\n  name: x\n  list:\n  - 1\n  - two\n  empty: \"\"\n", yaml.Out);

        var quoted = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", """["true","12","1_000","2024-01-02","0e9c85","a: b","-x","line\nbreak",null,false,{},[],[[1]],{"k v":{"x":1}}]""", "-o", "yaml");
        Assert.True(quoted.Exit == CliApp.Ok, quoted.ToString());
        Assert.Equal("got:\n- \"true\"\n- \"12\"\n- \"1_000\"\n- \"2024-01-02\"\n- 0e9c85\n- \"a: b\"\n- \"-x\"\n- \"line\\nbreak\"\n- null\n- false\n- {}\n- []\n-\n  -\n    - 1\n- k v:\n    x: 1\n", quoted.Out);

        var table = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", """{"n":1}""", "-o", "table");
        Assert.True(table.Exit == CliApp.Ok, table.ToString());
        Assert.Equal(["FIELD  VALUE", """got    {"n":1}"""], table.Lines);
    }

    [Fact]
    public async Task A_request_nobody_serves_is_exit_1_and_bad_data_exit_2()
    {
        var topic = $"{_prefix}.nobody";
        var missing = await _cli.AdminAsync("request", topic, "-d", "{}");
        Assert.True(missing.Exit == CliApp.Failed, missing.ToString());
        Assert.Contains($"{topic} answered 404", missing.Err, StringComparison.Ordinal);
        Assert.Equal("", missing.Out);

        var bad = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", "{not json");
        Assert.True(bad.Exit == CliApp.Usage, bad.ToString());
        Assert.Contains("--data is not valid JSON", bad.Err, StringComparison.Ordinal);

        var noFile = await _cli.AdminAsync("request", $"{_prefix}.echo", "-d", "@" + Path.Combine(_cli.Home, "absent.json"));
        Assert.True(noFile.Exit == CliApp.Usage, noFile.ToString());
        Assert.Contains("cannot read", noFile.Err, StringComparison.Ordinal);

        var badTopic = await _cli.AdminAsync("request", "bad topic*", "-d", "{}");
        Assert.True(badTopic.Exit == CliApp.Failed, badTopic.ToString());
        Assert.Contains("400", badTopic.Err, StringComparison.Ordinal);

        var wrongToken = await _cli.RunAsync("request", $"{_prefix}.echo", "--url", _gateway.Address.ToString(), "--token", "not-the-admin-token");
        Assert.True(wrongToken.Exit == CliApp.Failed, wrongToken.ToString());
        Assert.Contains("401", wrongToken.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compose_runs_a_pipe_from_a_file_and_from_stdin()
    {
        var composition = $$"""{"pipe":[{"topic":"{{_prefix}}.tag"},{"topic":"{{_prefix}}.echo"}]}""";
        var file = _cli.File("pipe.json", composition);
        var run = await _cli.AdminAsync("compose", "@" + file, "-d", """{"n":7}""");
        Assert.True(run.Exit == CliApp.Ok, run.ToString());
        Assert.Equal(200, (int)run.Json["code"]!);
        Assert.Equal(run.Json["messages"]!.AsArray().Count, (int)run.Json["length"]!);
        var last = run.Json["messages"]!.AsArray()[^1]!;
        Assert.Equal(7, (int)last["data"]!["got"]!["n"]!);
        Assert.True((bool)last["data"]!["got"]!["tagged"]!);

        var stdin = await _cli.RunAsync(["compose", "@-", "-d", """{"n":8}""", "--url", _gateway.Address.ToString(), "--token", TestGateway.AdminToken], composition, CancellationToken.None);
        Assert.True(stdin.Exit == CliApp.Ok, stdin.ToString());
        Assert.Equal(8, (int)stdin.Json["messages"]!.AsArray()[^1]!["data"]!["got"]!["n"]!);

        var failing = await _cli.AdminAsync("compose", $$"""{"andand":[{"topic":"{{_prefix}}.echo"},{"topic":"{{_prefix}}.nobody"}]}""");
        Assert.True(failing.Exit == CliApp.Failed, failing.ToString());
        Assert.Equal(404, (int)failing.Json["code"]!);
        Assert.Contains("ended with code 404", failing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signal_reaches_the_slots_of_its_topic()
    {
        var seen = Channel.CreateUnbounded<string>();
        await using var slot = await _bus.SlotAsync($"{_prefix}.events.*", (signal, _) =>
        {
            seen.Writer.TryWrite($"{signal.Topic} {signal.Data}");
            return ValueTask.CompletedTask;
        });

        var run = await _cli.AdminAsync("signal", $"{_prefix}.events.started", "-d", """{"at":1}""");
        Assert.True(run.Exit == CliApp.Ok, run.ToString());
        Assert.Equal("ok", (string)run.Json["status"]!);
        Assert.Equal($$"""{{_prefix}}.events.started {"at":1}""", await seen.Reader.ReadAsync().AsTask().Within("the signal at the slot"));
    }

    [Fact]
    public async Task Progress_shows_on_stderr_with_progress_while_a_reply_is_late()
    {
        var release = new TaskCompletionSource();
        await using var slow = await _bus.ReplyToAsync($"{_prefix}.slow", "_default", async (_, _) =>
        {
            await release.Task;
            return Message.Ok(JsonPayload.Parse("1"));
        });

        // The quiet run starts first: had it progress, its first line would come before the other's.
        var quiet = _cli.AdminAsync("request", $"{_prefix}.slow");
        var error = new SharedWriter();
        var running = _cli.RunAsync(["request", $"{_prefix}.slow", "--progress", "--url", _gateway.Address.ToString(), "--token", TestGateway.AdminToken],
            "", CancellationToken.None, error: error);
        await Waits.UntilAsync(() => Task.FromResult(error.ToString()), static e => e.Contains("waiting for the reply to", StringComparison.Ordinal),
            "a progress line on stderr with --progress");
        release.SetResult();
        var run = await running.Within("the slow request");
        Assert.True(run.Exit == CliApp.Ok, run.ToString());
        // A line a second, with the time waited so far: the first says 1s, or more on a busy machine.
        Assert.Matches($@"waiting for the reply to {Regex.Escape(_prefix)}\.slow … [1-9][0-9]*s", run.Err);
        var silent = await quiet.Within("the quiet request");
        Assert.True(silent.Exit == CliApp.Ok, silent.ToString());
        Assert.Equal("", silent.Err);
    }
}
