using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Trellis.Flows.Activities;
using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.TestKit;
using Xunit;

namespace Trellis.Flows.Tests.Activities;

/// <summary>The host supervisor with real child processes (the samples) on the in-process broker.</summary>
public sealed class ActivityHostTests : IAsyncLifetime
{
    private readonly InMemoryFlowBroker _broker = new();
    private readonly LogCapture _logs = new();
    private readonly StateLog _states = new();
    private readonly List<IAsyncDisposable> _cleanup = [];
    private ActivityHost _host = null!;

    public ValueTask InitializeAsync()
    {
        _host = new ActivityHost(_broker, new ActivityHostOptions { HostId = "test", InitialBackoff = TimeSpan.FromMilliseconds(200) }, _states, _logs);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        foreach (var d in _cleanup)
        {
            await d.DisposeAsync();
        }

        await _broker.DisposeAsync();
    }

    [Fact]
    public async Task A_message_to_the_inqueue_comes_out_of_the_outport_and_the_activity_is_announced()
    {
        var upper = Sample("upper");
        var announced = await ReadQueueAsync(ActivityDiscovery.Queue);
        await _host.SyncAsync([upper], CancellationToken.None);
        await WaitRunningAsync(upper);
        var outport = await TapAsync(upper.Manifest.QueueOf("out"));

        await SendAsync(upper.Manifest.QueueOf("in"), """{"text":"hello","n":1}""");

        var output = await outport.ReadAsync().AsTask().Within($"a message on {upper.Manifest.QueueOf("out")}");
        Assert.Equal("""{"text":"HELLO","n":1}""", output);

        var discovery = JsonNode.Parse(await announced.ReadAsync().AsTask().Within("the discovery message on fbp"))!;
        Assert.Equal("discovery", (string?)discovery["protocol"]);
        Assert.Equal("participant", (string?)discovery["command"]);
        var payload = discovery["payload"]!;
        Assert.Equal(upper.Manifest.Role, (string?)payload["role"]);
        Assert.Equal($"{upper.Manifest.Role}-test", (string?)payload["id"]);
        Assert.Equal("@samples/upper", (string?)payload["component"]);
        Assert.Equal(upper.Manifest.QueueOf("in"), (string?)payload["inports"]![0]!["queue"]);
        Assert.Equal("any", (string?)payload["inports"]![0]!["type"]);
        Assert.Equal(upper.Manifest.QueueOf("out"), (string?)payload["outports"]![0]!["queue"]);
    }

    [Fact]
    public async Task Many_messages_in_flight_all_come_out()
    {
        var tee = Sample("tee");
        await _host.SyncAsync([tee], CancellationToken.None);
        await WaitRunningAsync(tee);
        var outport = await TapAsync(tee.Manifest.QueueOf("out"));

        for (var i = 0; i < 100; i++)
        {
            await SendAsync(tee.Manifest.QueueOf("in"), $$"""{"i":{{i}}}""");
        }

        var seen = new HashSet<string>();
        while (seen.Count < 100)
        {
            seen.Add(await outport.ReadAsync().AsTask().Within($"message {seen.Count + 1} of 100 on {tee.Manifest.QueueOf("out")}"));
        }

        Assert.Contains("""{"i":99}""", seen);
    }

    [Fact]
    public async Task A_crashing_activity_is_restarted_and_its_state_reported()
    {
        var upper = Sample("upper");
        await _host.SyncAsync([upper], CancellationToken.None);
        var first = await WaitRunningAsync(upper);
        var outport = await TapAsync(upper.Manifest.QueueOf("out"));

        await SendAsync(upper.Manifest.QueueOf("in"), """{"crash":3}""");

        var restarting = await _states.WaitAsync(s => s.Status == ActivityRunStatus.Restarting, "Restarting after the crash");
        Assert.Equal(1, restarting.Restarts);
        Assert.Equal("exited with code 3", restarting.LastError);
        var again = await _states.WaitAsync(s => s.Status == ActivityRunStatus.Running && s.Restarts == 1, "Running again after one restart");
        Assert.NotEqual(first.Pid, again.Pid);
        Assert.True(_logs.Has(LogLevel.Warning, "exited with code 3"));
        Assert.True(_logs.Has(LogLevel.Information, "upper: crashing as asked"));

        // The message it died on went to the dead-letter exchange, not back to the activity: the next one gets through.
        await SendAsync(upper.Manifest.QueueOf("in"), "\"after\"");
        Assert.Equal("\"AFTER\"", await outport.ReadAsync().AsTask().Within("the message sent after the restart"));
        Assert.Equal(ActivityRunStatus.Running, _host.GetState(upper.Manifest.Id)?.Status);
    }

    [Fact]
    public async Task Bad_output_lines_and_rejections_are_logged_and_do_not_stop_the_activity()
    {
        var upper = Sample("upper");
        await _host.SyncAsync([upper], CancellationToken.None);
        var running = await WaitRunningAsync(upper);
        var outport = await TapAsync(upper.Manifest.QueueOf("out"));

        await SendAsync(upper.Manifest.QueueOf("in"), """{"garbage":true,"t":"x"}""");
        await SendAsync(upper.Manifest.QueueOf("in"), """{"reject":"no thanks"}""");
        await SendAsync(upper.Manifest.QueueOf("in"), "not json at all");

        Assert.Equal("""{"garbage":true,"t":"X"}""", await outport.ReadAsync().AsTask().Within("the output after the garbage line"));
        Assert.Equal("\"NOT JSON AT ALL\"", await outport.ReadAsync().AsTask().Within("the output for a body that is not JSON"));
        Assert.True(_logs.Has(LogLevel.Warning, "not a protocol message"));
        await Waits.UntilAsync(() => Task.FromResult(_logs.Has(LogLevel.Warning, "no thanks")), static b => b, "the rejection logged");
        Assert.Equal(running.Pid, _host.GetState(upper.Manifest.Id)?.Pid);
    }

    [Fact]
    public async Task An_entry_that_cannot_start_is_retried_and_reported()
    {
        var manifest = new ActivityManifest(Guid.NewGuid(), "missing", "1.0.0", null, [], ["/nonexistent/command"], ["in"], ["out"], RoleOverride: Unique("missing"));
        using var dir = new TempFolder();
        await _host.SyncAsync([new InstalledActivity(manifest, dir.Path, [], true)], CancellationToken.None);

        var state = await _states.WaitAsync(s => s.Status == ActivityRunStatus.Restarting && s.Restarts >= 2, "two failed starts of /nonexistent/command");

        Assert.Contains("could not start '/nonexistent/command'", state.LastError);
    }

    [Fact]
    public async Task Two_activities_bound_output_to_input_chain_and_disabling_stops_one()
    {
        var upper = Sample("upper");
        var reverse = Sample("reverse");
        await _host.SyncAsync([upper, reverse], CancellationToken.None);
        await WaitRunningAsync(upper);
        await WaitRunningAsync(reverse);
        await _broker.AddBindingAsync(FlowBinding.PubSub(upper.Manifest.QueueOf("out"), reverse.Manifest.QueueOf("in")), CancellationToken.None);
        var outport = await TapAsync(reverse.Manifest.QueueOf("out"));

        await SendAsync(upper.Manifest.QueueOf("in"), "\"abc\"");

        Assert.Equal("\"CBA\"", await outport.ReadAsync().AsTask().Within("upper then reverse of \"abc\""));

        await _host.SyncAsync([upper], CancellationToken.None);
        await _states.WaitAsync(s => s.ActivityId == reverse.Manifest.Id && s.Status == ActivityRunStatus.Stopped, "reverse stopped");
        Assert.Equal([upper.Manifest.Id], _host.States.Select(static s => s.ActivityId));
    }

    [Fact]
    public async Task The_host_reports_each_state_again_every_interval_and_stopped_when_it_shuts_down()
    {
        var states = new StateLog();
        var host = new ActivityHost(_broker, new ActivityHostOptions { HostId = "reporting", ReportInterval = TimeSpan.FromMilliseconds(100) }, states, _logs);
        var upper = Sample("upper");
        try
        {
            await host.SyncAsync([upper], CancellationToken.None);
            var running = await states.WaitAsync(s => s.Status == ActivityRunStatus.Running, "running");
            await Waits.UntilAsync(
                () => Task.FromResult(states.All.Count(s => s.Status == ActivityRunStatus.Running && s.Changed == running.Changed)),
                static n => n >= 3,
                "the running state to be reported three times (once on the change, then again each 100 ms)");
            Assert.All(states.All, static s => Assert.Equal(TimeSpan.FromMilliseconds(100), s.ReportInterval));
        }
        finally
        {
            await host.DisposeAsync();
        }

        var last = states.All[^1];
        Assert.Equal(ActivityRunStatus.Stopped, last.Status);
        Assert.Equal(upper.Manifest.Id, last.ActivityId);
        var count = states.All.Count;
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.Equal(count, states.All.Count);
    }

    [Fact]
    public async Task A_stopping_host_lets_the_activity_answer_what_it_holds_and_puts_back_what_it_did_not()
    {
        var dir = Path.Combine(Samples.RepoRoot(), "tests", "Flows.Tests", "Activities", "Hold");
        var manifest = ActivityManifest.Load(dir) with { RoleOverride = Unique("hold") };
        var hold = new InstalledActivity(manifest, dir, manifest.Tags, true);
        var states = new StateLog();
        var host = new ActivityHost(_broker, new ActivityHostOptions { HostId = "stopping", StopTimeout = TimeSpan.FromSeconds(1), ReportInterval = TimeSpan.Zero }, states, _logs);
        try
        {
            await host.SyncAsync([hold], CancellationToken.None);
            await states.WaitAsync(s => s.Status == ActivityRunStatus.Running, "hold running");
            var outport = await TapAsync(manifest.QueueOf("out"));
            await SendAsync(manifest.QueueOf("in"), "\"a\"");
            await SendAsync(manifest.QueueOf("in"), "\"b\"");
            await SendAsync(manifest.QueueOf("in"), """{"keep":true}""");
            await Waits.UntilAsync(() => Task.FromResult(_logs.Has(LogLevel.Information, "hold: holding 3")), static b => b, "the activity to hold the three messages");

            await host.DisposeAsync();

            // Its answers after its input closed were published (and acknowledged: they do not come back below).
            string[] answers = [await outport.ReadAsync().AsTask().Within("the first answer"), await outport.ReadAsync().AsTask().Within("the second answer")];
            Assert.Equal(["\"A\"", "\"B\""], answers.Order());
            Assert.True(_logs.Has(LogLevel.Information, "hold: input closed, answering 3"));
            Assert.True(_logs.Has(LogLevel.Information, "its input was closed and it"), string.Join("\n", _logs.Entries.Select(static e => $"{e.Level}: {e.Message}")));
            Assert.Equal(ActivityRunStatus.Stopped, states.All[^1].Status);
        }
        finally
        {
            await host.DisposeAsync();
        }

        // The one it never answered is back on the queue for another host; the answered ones are not.
        var queue = Channel.CreateUnbounded<string>();
        _cleanup.Add(await _broker.ConsumeAsync(manifest.QueueOf("in"), FlowConsumerOptions.Default, async (d, _) =>
        {
            queue.Writer.TryWrite(Encoding.UTF8.GetString(d.Body.Span));
            await d.AckAsync();
        }, CancellationToken.None));
        Assert.Equal("""{"keep":true}""", await queue.Reader.ReadAsync().AsTask().Within("the unanswered message back on the inqueue"));
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.False(queue.Reader.TryRead(out var extra), $"only the unanswered message comes back, not {extra}");
    }

    [Theory]
    [InlineData("python")]
    [InlineData("node")]
    [InlineData("sh")]
    public async Task The_starter_program_of_each_language_speaks_the_protocol(string lang)
    {
        using var temp = new TempFolder();
        var store = new ActivityStore(temp.Path);
        store.Initialize();
        var created = store.Create($"starter-{lang}", lang);
        var activity = created with { Manifest = created.Manifest with { RoleOverride = Unique(lang) } };
        await _host.SyncAsync([activity], CancellationToken.None);
        await WaitRunningAsync(activity);
        var outport = await TapAsync(activity.Manifest.QueueOf("out"));

        await SendAsync(activity.Manifest.QueueOf("in"), """{"hello":"world"}""");

        Assert.Equal("""{"hello":"world"}""", await outport.ReadAsync().AsTask().Within($"the {lang} starter's echo"));
    }

    private InstalledActivity Sample(string name)
    {
        var dir = Path.Combine(Samples.Directory, name);
        var manifest = ActivityManifest.Load(dir) with { RoleOverride = Unique(name) };
        return new InstalledActivity(manifest, dir, manifest.Tags, true);
    }

    private static string Unique(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];

    private async Task<ActivityRunState> WaitRunningAsync(InstalledActivity activity) =>
        await _states.WaitAsync(s => s.ActivityId == activity.Manifest.Id && s.Status == ActivityRunStatus.Running, $"{activity.Manifest.Role} running");

    private ValueTask SendAsync(string queue, string json) =>
        _broker.SendToQueueAsync(queue, Encoding.UTF8.GetBytes(json), null, CancellationToken.None);

    private async Task<ChannelReader<string>> TapAsync(string exchange)
    {
        var channel = Channel.CreateUnbounded<string>();
        _cleanup.Add(await _broker.TapAsync(exchange, (_, body, _) =>
        {
            channel.Writer.TryWrite(Encoding.UTF8.GetString(body.Span));
            return ValueTask.CompletedTask;
        }, CancellationToken.None));
        return channel.Reader;
    }

    private async Task<ChannelReader<string>> ReadQueueAsync(string queue)
    {
        var channel = Channel.CreateUnbounded<string>();
        await _broker.DeclareQueueAsync(queue, CancellationToken.None);
        _cleanup.Add(await _broker.ConsumeAsync(queue, FlowConsumerOptions.Default, async (d, _) =>
        {
            channel.Writer.TryWrite(Encoding.UTF8.GetString(d.Body.Span));
            await d.AckAsync();
        }, CancellationToken.None));
        return channel.Reader;
    }

    /// <summary>Every state a host reported, with waits on them.</summary>
    private sealed class StateLog : IActivityStateSink
    {
        private readonly ConcurrentQueue<ActivityRunState> _states = new();

        public ValueTask ReportAsync(ActivityRunState state, CancellationToken cancellationToken)
        {
            _states.Enqueue(state);
            return ValueTask.CompletedTask;
        }

        public IReadOnlyList<ActivityRunState> All => [.. _states];

        public Task<ActivityRunState> WaitAsync(Func<ActivityRunState, bool> match, string what) =>
            Waits.UntilAsync(
                () => Task.FromResult(_states.LastOrDefault(match)),
                static s => s is not null,
                $"state {what}; states so far: {string.Join("; ", _states.Select(static s => $"{s.Role} {s.Status} r{s.Restarts} {s.LastError}"))}")!;
    }
}
