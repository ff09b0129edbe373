using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Flows.Fbp;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.Flows.Broker;
using Trellis.TestKit;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>The <c>trellis flow</c> and <c>trellis participants</c> commands, run in-process against a real gateway.</summary>
public sealed class FlowCliTests
{
    private sealed record Run(int Exit, string Out, string Err);

    private static async Task<Run> RunAsync(TestGateway? gateway, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string[] common = gateway is null ? [] : ["--url", gateway.Address.ToString(), "--token", Admin, "--progress"];
        var exit = await CliApp.RunAsync([.. args, .. common], output, error, TestContext.Current.CancellationToken);
        return new Run(exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Setup_prints_the_msgflo_lines_and_waits_for_participants()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var node = await PythonNode.StartAsync("cli-node");
        using var folder = new TempFolder();
        var a = Unique("a");
        var b = Unique("b");
        var fbp = Path.Combine(folder.Path, "graph.fbp");
        await File.WriteAllTextAsync(fbp, $"{a}(A) OUT -> IN {b}(B)\n", TestContext.Current.CancellationToken);
        var graph = Unique("cli");

        var pending = await RunAsync(gateway, "flow", "setup", fbp, "--graph", graph);
        Assert.True(pending.Exit == 0, pending.Err);
        Assert.Contains($"PENDING:\t {a}", pending.Out, StringComparison.Ordinal);

        var timedOut = await RunAsync(gateway, "flow", "setup", fbp, "--graph", graph, "--wait", "--timeout", "1.5");
        Assert.Equal(1, timedOut.Exit);
        Assert.Contains("waiting for 2 participants", timedOut.Err, StringComparison.Ordinal);
        Assert.Contains("timed out", timedOut.Err, StringComparison.Ordinal);

        await gateway.RegisterAsync(new { port = node.Port, role = a, outports = new object[] { new { id = "out" } } });
        await gateway.RegisterAsync(new { port = node.Port, role = b, inports = new object[] { new { id = "in", path = "/echo" } } });
        var wired = await RunAsync(gateway, "flow", "setup", fbp, "--graph", graph, "--wait", "--timeout", "20");
        Assert.True(wired.Exit == 0, wired.Err);
        Assert.Equal($"PUBSUB: \t {a}.OUT -> {b}.IN", wired.Out.Trim());
    }

    [Fact]
    public async Task Setup_prints_the_roundrobin_and_deadletter_lines_as_msgflo_setup_does()
    {
        await using var gateway = await TestGateway.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var broker = gateway.Services.GetRequiredService<IFlowBroker>();
        var id = Guid.NewGuid().ToString("N")[..10];
        var (producer, worker, dead) = ($"producer{id}", $"worker{id}", $"dead{id}");
        await using var p1 = await TestParticipant.StartAsync(broker, producer, $"lib{id}/Repeat", repeat: true, ct);
        await using var p2 = await TestParticipant.StartAsync(broker, worker, $"lib{id}/Repeat", repeat: true, ct);
        await using var p3 = await TestParticipant.StartAsync(broker, dead, $"lib{id}/Drop", repeat: false, ct);
        await WaitForParticipantsAsync(gateway, producer, worker, dead);
        using var folder = new TempFolder();
        var fbp = Path.Combine(folder.Path, "roundrobin.fbp");
        await File.WriteAllTextAsync(fbp, $"""
            # @runtime msgflo
            {producer}(lib{id}/Repeat) OUT -> IN rr(msgflo/RoundRobin) OUT -> IN {worker}(lib{id}/Repeat)
            rr DEADLETTER -> IN {dead}(lib{id}/Drop)

            """, ct);

        var run = await RunAsync(gateway, "flow", "setup", fbp, "--graph", Unique("rr"));

        Assert.True(run.Exit == 0, $"exit {run.Exit}; stdout: {run.Out}; stderr: {run.Err}");
        Assert.Equal([$"DEADLETTER:\t {worker}.IN -> {dead}.IN", $"ROUNDROBIN:\t {producer}.OUT -> {worker}.IN"], run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", run.Err);
    }

    [Fact]
    public async Task Setup_takes_a_json_graph()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var folder = new TempFolder();
        var a = Unique("a");
        var file = Path.Combine(folder.Path, "graph.json");
        await File.WriteAllTextAsync(file, Graph([(a, "A")]), TestContext.Current.CancellationToken);
        var run = await RunAsync(gateway, "flow", "setup", file, "--graph", Unique("json"));
        Assert.True(run.Exit == 0, run.Err);
        Assert.Contains($"PENDING:\t {a}", run.Out, StringComparison.Ordinal);

        var bad = Path.Combine(folder.Path, "bad.fbp");
        await File.WriteAllTextAsync(bad, "a(A) OUT ->", TestContext.Current.CancellationToken);
        var refused = await RunAsync(gateway, "flow", "setup", bad);
        Assert.Equal(1, refused.Exit);
        Assert.Contains("400", refused.Err, StringComparison.Ordinal);
        Assert.Contains("line", refused.Err, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Send_and_dump_a_queue()
    {
        await using var gateway = await TestGateway.StartAsync();
        var queue = await DeclareQueueAsync(gateway, Unique("cli"));
        Assert.Equal(0, (await RunAsync(gateway, "flow", "send", "--queue", queue, "--json", "{\"a\":1}")).Exit);
        Assert.Equal(0, (await RunAsync(gateway, "flow", "send", "--queue", queue, "--json", "[2]")).Exit);

        var dump = await RunAsync(gateway, "flow", "dump", "--queue", queue, "--amount", "2");
        Assert.True(dump.Exit == 0, dump.Err);
        var lines = dump.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1, (int)JsonNode.Parse(lines[0])!["a"]!);
        Assert.Equal(2, (int)JsonNode.Parse(lines[1])![0]!);

        var late = await RunAsync(gateway, "flow", "dump", "--queue", queue, "--amount", "1", "--timeout", "1.5");
        Assert.Equal(1, late.Exit);
        Assert.Contains($"waiting for 1 message on {queue}", late.Err, StringComparison.Ordinal);
        Assert.Contains("got 0 of 1", late.Err, StringComparison.Ordinal);

        var missing = await RunAsync(gateway, "flow", "send", "--queue", "missing.IN", "--json", "1");
        Assert.Equal(1, missing.Exit);
        Assert.Contains("404", missing.Err, StringComparison.Ordinal);
        Assert.Contains("missing.IN", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Participants_as_a_table_and_as_json()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var node = await PythonNode.StartAsync("cli-participant");
        var role = Unique("p");
        await gateway.RegisterAsync(new { port = node.Port, role, inports = new object[] { new { id = "in", path = "/echo" } }, outports = new object[] { new { id = "out" } } });
        await WaitForParticipantsAsync(gateway, role);

        var table = await RunAsync(gateway, "participants");
        Assert.True(table.Exit == 0, table.Err);
        Assert.StartsWith("ID", table.Out, StringComparison.Ordinal);
        var row = table.Out.Split('\n').Single(l => l.Contains(role, StringComparison.Ordinal));
        Assert.Contains("online", row, StringComparison.Ordinal);
        Assert.Contains(" in ", row, StringComparison.Ordinal);

        var json = await RunAsync(gateway, "participants", "-o", "json");
        Assert.Equal(0, json.Exit);
        Assert.Contains(JsonNode.Parse(json.Out)!.AsArray(), p => (string?)p!["role"] == role);
    }

    [Fact]
    public async Task Exit_codes_for_usage_errors_refusals_and_an_unreachable_cluster()
    {
        Assert.Equal(CliApp.Usage, (await RunAsync(null, "flow", "send", "--queue", "q.IN")).Exit);
        var badJson = await RunAsync(null, "flow", "send", "--queue", "q.IN", "--json", "{x");
        Assert.Equal(CliApp.Usage, badJson.Exit);
        Assert.Contains("--json is not valid JSON", badJson.Err, StringComparison.Ordinal);
        Assert.Equal(CliApp.Usage, (await RunAsync(null, "flow", "dump", "--queue", "q.IN", "--amount", "0")).Exit);
        Assert.Equal(CliApp.Usage, (await RunAsync(null, "participants", "-o", "xml")).Exit);

        var unreachable = await RunAsync(null, "participants", "--url", $"http://127.0.0.1:{FreePorts.Take(1)[0]}");
        Assert.Equal(CliApp.Unreachable, unreachable.Exit);
        Assert.Contains("cannot reach", unreachable.Err, StringComparison.Ordinal);

        await using var gateway = await TestGateway.StartAsync();
        var refused = await CliApp.RunAsync(["participants", "--url", gateway.Address.ToString(), "--token", "wrong"], new StringWriter(), new StringWriter(), TestContext.Current.CancellationToken);
        Assert.Equal(CliApp.Failed, refused);
    }
}
