using System.Text;
using Microsoft.Extensions.Logging;
using Trellis.Edge.Activities;
using Trellis.Edge.Daemon;
using Trellis.Edge.Tests.Services;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Activities;

/// <summary>The agent as an activity host: real processes (python3, sh) from a temporary activity home.</summary>
public sealed class EdgeActivitiesTests
{
    private static readonly ActivityHostSettings Fast = new() { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(200), RescanInterval = TimeSpan.FromMilliseconds(100), StopTimeout = TimeSpan.FromSeconds(2) };

    private static Task<ActivityState> StateAsync(EdgeActivities host, Guid id, Func<ActivityState, bool> done, string what) =>
        Waits.UntilAsync(() => Task.FromResult(host.States.FirstOrDefault(s => s.Id == id) ?? new ActivityState(id, "", "", "", "absent", null, 0, null, default)), done, what);

    private static ReadOnlyMemory<byte> Json(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task An_enabled_activity_runs_and_answers_on_the_stdio_protocol()
    {
        using var temp = new TempFolder();
        var homes = new ActivityHomes(temp.Path);
        var upper = homes.AddUpper("@t/upper");
        var idle = homes.AddUpper("idle");
        homes.SetEnabled(upper.ToString());
        var log = new StringWriter();
        var outlet = new TestOutlet();
        await using var host = new EdgeActivities(homes.Home, Fast, new AgentLog(LogLevel.Debug, TextWriter.Synchronized(log))) { Outlet = outlet };
        await host.StartAsync(TestContext.Current.CancellationToken);

        var running = await StateAsync(host, upper, static s => s.Status == ActivityState.Running, "@t/upper to run");
        Assert.Equal("t-upper", running.Role);
        Assert.NotNull(running.Pid);
        Assert.DoesNotContain(host.States, s => s.Id == idle);

        Assert.True(host.TryDeliver(upper, "d1", "in", Json("""{"text":"hello","n":1}""")));
        var output = await outlet.Outputs.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the output of d1");
        Assert.Equal((upper, "out", """{"text":"HELLO","n":1}""", (string?)"d1"), output);
        Assert.Equal((upper, "d1", (string?)null, false), await outlet.Done.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the ack of d1"));

        // Text that is not JSON arrives as a string; a line that is not the protocol is logged and the activity goes on.
        Assert.True(host.TryDeliver(upper, "d2", "in", Json("plain text")));
        Assert.Equal("\"PLAIN TEXT\"", (await outlet.Outputs.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the output of d2")).Data);
        await outlet.Done.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the ack of d2");
        Assert.True(host.TryDeliver(upper, "d3", "in", Json("""{"garbage":true,"x":"y"}""")));
        Assert.Equal("""{"garbage":true,"x":"Y"}""", (await outlet.Outputs.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the output of d3")).Data);
        await outlet.Done.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the ack of d3");
        Assert.Contains("not a protocol message", log.ToString());
        Assert.Contains("[t-upper] upper: ready", log.ToString());

        // A rejection names the delivery and why.
        Assert.True(host.TryDeliver(upper, "d4", "in", Json("""{"reject":"no thanks"}""")));
        Assert.Equal((upper, "d4", (string?)"no thanks", false), await outlet.Done.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the rejection of d4"));

        // Not for this host: refused, so the gateway puts it back.
        Assert.False(host.TryDeliver(idle, "d5", "in", Json("1")));
        Assert.False(host.TryDeliver(upper, "d6", "nope", Json("1")));
    }

    [Fact]
    public async Task A_crashing_activity_is_restarted_and_what_it_held_is_rejected()
    {
        using var temp = new TempFolder();
        var homes = new ActivityHomes(temp.Path);
        var upper = homes.AddUpper("upper");
        var broken = homes.Add("gone", ["/no/such/program"], "x", "");
        homes.SetEnabled(upper.ToString(), broken.ToString());
        var outlet = new TestOutlet();
        await using var host = new EdgeActivities(homes.Home, Fast) { Outlet = outlet };
        await host.StartAsync(TestContext.Current.CancellationToken);
        var first = await StateAsync(host, upper, static s => s.Status == ActivityState.Running, "upper to run");

        Assert.True(host.TryDeliver(upper, "boom", "in", Json("""{"crash":7}""")));
        Assert.Equal((upper, "boom", (string?)"the activity ended before it answered", false), await outlet.Done.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("the crashed message to be rejected"));
        var again = await StateAsync(host, upper, s => s.Status == ActivityState.Running && s.Restarts == 1, "upper running again after one restart");
        Assert.Equal("exited with code 7", again.LastError);
        Assert.NotEqual(first.Pid, again.Pid);

        // One that cannot start keeps being tried and says why.
        var gone = await StateAsync(host, broken, static s => s.Restarts >= 2, "the missing program to be retried");
        Assert.Contains("could not start '/no/such/program'", gone.LastError);
        Assert.NotEqual(ActivityState.Running, gone.Status);
    }

    [Fact]
    public async Task The_back_off_doubles_from_one_second()
    {
        using var temp = new TempFolder();
        var homes = new ActivityHomes(temp.Path);
        var crash = homes.Add("crash", ["/bin/sh", "main.sh"], "main.sh", "exit 3\n");
        homes.SetEnabled(crash.ToString());
        var time = new ManualTime();
        await using var host = new EdgeActivities(homes.Home, new ActivityHostSettings { RescanInterval = TimeSpan.FromHours(1) }, time: time);
        await host.StartAsync(TestContext.Current.CancellationToken);

        var backoff = TimeSpan.FromSeconds(1);
        for (var restarts = 1; restarts <= 4; restarts++)
        {
            var state = await StateAsync(host, crash, s => s.Status == ActivityState.Restarting && s.Restarts == restarts, $"restart {restarts} to wait");
            Assert.Equal("exited with code 3", state.LastError);
            await Waits.UntilAsync(() => Task.FromResult(time.PendingTimers), static n => n == 2, $"restart {restarts}: the back-off timer beside the rescan timer");

            // Just short of the back-off nothing fires; at it, the activity starts again.
            time.Advance(backoff - TimeSpan.FromMilliseconds(1));
            Assert.Equal(2, time.PendingTimers);
            Assert.Equal(restarts, host.States.Single().Restarts);
            time.Advance(TimeSpan.FromMilliseconds(1));
            backoff *= 2;
        }

        await StateAsync(host, crash, static s => s.Restarts == 5, "the fifth restart");
    }

    [Fact]
    public async Task The_home_is_read_again_and_a_broken_manifest_is_reported_not_fatal()
    {
        using var temp = new TempFolder();
        var homes = new ActivityHomes(temp.Path);
        var a = homes.AddUpper("a");
        var b = homes.Add("b", ["/bin/sh", "main.sh"], "main.sh", "exec sed -u 's/^{\"id\":\"\\([^\"]*\\)\",\"port\":\"in\",/{\"id\":\"\\1\",\"port\":\"out\",\"ack\":true,/'\n", ["shell"]);
        homes.AddBroken(Guid.NewGuid().ToString(), """{"name":"no-id","entry":"sh"}""");
        homes.AddBroken("not-json", "{");
        var changes = 0;
        await using var host = new EdgeActivities(homes.Home, Fast);
        host.Changed += () => Interlocked.Increment(ref changes);
        await host.StartAsync(TestContext.Current.CancellationToken);
        Assert.Empty(host.States);
        Assert.Contains(host.Problems, p => p.Contains("field 'id' is missing", StringComparison.Ordinal));
        Assert.Contains(host.Problems, p => p.Contains("not valid JSON", StringComparison.Ordinal));

        homes.SetEnabled(a.ToString(), "tag:shell");
        await StateAsync(host, a, static s => s.Status == ActivityState.Running, "a to run once enabled");
        await StateAsync(host, b, static s => s.Status == ActivityState.Running, "b to run once tag:shell is enabled");
        Assert.True(Volatile.Read(ref changes) > 0);

        // The shell template passes messages on unchanged.
        var outlet = new TestOutlet();
        host.Outlet = outlet;
        Assert.True(host.TryDeliver(b, "s1", "in", Json("""{"k":"v"}""")));
        Assert.Equal((b, "out", """{"k":"v"}""", (string?)"s1"), await outlet.Outputs.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within("b's output"));

        homes.SetEnabled(b.ToString());
        await Waits.UntilAsync(() => Task.FromResult(host.States), s => s.Count == 1 && s[0].Id == b, "a to stop once disabled");

        File.WriteAllText(Path.Combine(homes.Home, "config.json"), "[1]");
        await Waits.UntilAsync(() => Task.FromResult(host.Problems), p => p.Any(x => x.Contains("must be a JSON object", StringComparison.Ordinal)), "the broken config to be reported");
        Assert.Equal(ActivityState.Running, Assert.Single(host.States).Status); // a bad edit stops nothing
    }
}
