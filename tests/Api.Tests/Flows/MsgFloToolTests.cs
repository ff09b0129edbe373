using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.Flows.Broker;
using Trellis.TestKit;
using Xunit;
using static Trellis.Api.Tests.Flows.FlowsTesting;

namespace Trellis.Api.Tests.Flows;

/// <summary>The <c>trellis flow</c> commands (run in-process) and msgflo's own tools (<c>msgflo-setup</c>,
/// <c>msgflo-dump-message</c>) with stock msgflo-nodejs participants on RabbitMQ, each tool working on what the other
/// set up. Each test has a virtual host of its own.</summary>
public sealed class MsgFloToolTests : IAsyncLifetime
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _folder = new();
    private MsgFloCluster _cluster = null!;

    public async ValueTask InitializeAsync() => _cluster = await MsgFloCluster.StartAsync("tools");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _cluster.DisposeAsync();
        }
        finally
        {
            _folder.Dispose();
        }
    }

    private sealed record Run(int Exit, string Out, string Err)
    {
        public override string ToString() => $"exit {Exit}; stdout: {Out}; stderr: {Err}";
    }

    private async Task<Run> TrellisAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CliApp.RunAsync([.. args, "--url", _cluster.Gateway.Address.ToString(), "--token", Admin, "--progress"], output, error, TestContext.Current.CancellationToken);
        return new Run(exit, output.ToString(), error.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public async Task Flow_setup_waits_for_participants_started_after_it_then_send_and_dump_take_21_through_the_pipeline_as_42()
    {
        var (a, b, c, sink) = (MsgFloCluster.Unique("first"), MsgFloCluster.Unique("double"), MsgFloCluster.Unique("last"), MsgFloCluster.Unique("sink"));
        var graph = Unique("cli-peers");
        var file = _folder.File("pipeline.fbp");
        await File.WriteAllTextAsync(file, $"{a}(trellis/Repeat) OUT -> IN {b}(trellis/Double)\n{b} OUT -> IN {c}(trellis/Repeat)\n", TestContext.Current.CancellationToken);

        var setup = TrellisAsync("flow", "setup", file, "--graph", graph, "--wait", "--timeout", "120");
        await Waits.UntilAsync(() => _cluster.Networks.GetSetupAsync(graph, CancellationToken.None), s => s.Pending.Count == 3 || setup.IsCompleted,
            $"trellis flow setup to set graph {graph} with {a}, {b} and {c} pending");
        Assert.False(setup.IsCompleted, $"trellis flow setup --wait returned before the participants started: {(setup.IsCompleted ? await setup : null)}");

        _cluster.Start("repeat.js", a);
        _cluster.Start("double.js", b);
        _cluster.Start("repeat.js", c);
        var wired = await setup.Within($"trellis flow setup --wait to see {a}, {b} and {c} bound ({_cluster.Outputs(a, b, c)})", TimeSpan.FromSeconds(150));
        Assert.True(wired.Exit == 0, wired.ToString());
        Assert.Equal([$"PUBSUB: \t {a}.OUT -> {b}.IN", $"PUBSUB: \t {b}.OUT -> {c}.IN"], wired.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("waiting for 3 participants", wired.Err, StringComparison.Ordinal);

        // A queue of its own bound to the last outport, as msgflo-dump-message users bind one.
        await _cluster.FlowBroker.DeclareInportAsync($"{sink}.IN", FlowPortOptions.Default, CancellationToken.None);
        await _cluster.FlowBroker.AddBindingAsync(FlowBinding.PubSub($"{c}.OUT", $"{sink}.IN"), CancellationToken.None);

        var sent = await TrellisAsync("flow", "send", "--queue", $"{a}.IN", "--json", "21");
        Assert.True(sent.Exit == 0, sent.ToString());
        var dump = await TrellisAsync("flow", "dump", "--queue", $"{sink}.IN", "--amount", "1", "--timeout", "30");
        Assert.True(dump.Exit == 0, $"{dump}; participants: {_cluster.Outputs(a, b, c)}");
        Assert.Equal(["42"], Lines(dump.Out));
    }

    [Fact]
    public async Task Msgflo_dump_message_reads_what_trellis_flow_send_sent_to_a_queue()
    {
        var queue = await DeclareQueueAsync(_cluster.Gateway, MsgFloCluster.Unique("dumped"));
        var sent = await TrellisAsync("flow", "send", "--queue", queue, "--json", """{"n":21,"s":"é"}""");
        Assert.True(sent.Exit == 0, sent.ToString());

        var dump = await MsgFloTool.RunAsync("msgflo-dump-message", ["--broker", _cluster.Broker, "--queue", queue, "--amount", "1"], _folder.Path, ToolTimeout);
        Assert.True(dump.ExitCode == 0, dump.ToString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"n":21,"s":"é"}"""), JsonNode.Parse(dump.Out)), dump.ToString());

        // msgflo acknowledged it: the queue is empty for Trellis.
        var after = await TrellisAsync("flow", "dump", "--queue", queue, "--amount", "1", "--timeout", "1");
        Assert.Equal(1, after.Exit);
        Assert.Contains("got 0 of 1", after.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_graph_wired_by_msgflo_setup_carries_data_while_Trellis_lists_its_participants_and_wires_it_the_same()
    {
        var (x, y) = (MsgFloCluster.Unique("repeat"), MsgFloCluster.Unique("double"));
        _cluster.Start("repeat.js", x);
        _cluster.Start("double.js", y);
        var listed = await WaitForParticipantsAsync(_cluster.Gateway, x, y);
        var repeat = listed.Single(p => (string?)p!["role"] == x)!;
        Assert.Equal("trellis/Repeat", (string?)repeat["component"]);
        Assert.Equal($"{x}.IN", (string?)repeat["inports"]![0]!["queue"]);
        Assert.Equal($"{x}.OUT", (string?)repeat["outports"]![0]!["queue"]);

        var file = _folder.File("pair.fbp");
        await File.WriteAllTextAsync(file, $"{x}(trellis/Repeat) OUT -> IN {y}(trellis/Double)\n", TestContext.Current.CancellationToken);
        var msgflo = await MsgFloTool.RunAsync("msgflo-setup", ["--broker", _cluster.Broker, file], _folder.Path, ToolTimeout);
        Assert.True(msgflo.ExitCode == 0, msgflo.ToString());
        var line = $"PUBSUB: \t {x}.OUT -> {y}.IN";
        Assert.Contains(line, Lines(msgflo.Out));

        var output = await _cluster.TapAsync($"{y}.OUT");
        var sent = await TrellisAsync("flow", "send", "--queue", $"{x}.IN", "--json", "4");
        Assert.True(sent.Exit == 0, sent.ToString());
        await Waits.UntilAsync(() => Task.FromResult(output.ToArray()), o => o.Contains("8"), $"4 sent to {x}.IN to leave {y} doubled through msgflo-setup's binding ({_cluster.Outputs(x, y)})");
        Assert.Contains(await _cluster.Networks.ListParticipantsAsync(CancellationToken.None), p => p.Definition.Role == y);

        // Trellis wires the same graph to the same binding, as msgflo-setup printed it.
        var trellis = await TrellisAsync("flow", "setup", file, "--graph", Unique("msgflo-setup"));
        Assert.True(trellis.Exit == 0, trellis.ToString());
        Assert.Equal([line], trellis.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
