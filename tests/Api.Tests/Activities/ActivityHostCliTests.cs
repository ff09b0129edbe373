using System.Text.Json.Nodes;
using Trellis.Api.Tests.Flows;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.Flows.Broker;
using Trellis.TestKit;
using static Trellis.Api.Tests.Activities.ActivityTesting;

namespace Trellis.Api.Tests.Activities;

/// <summary><c>trellis host</c> and <c>trellis activity start</c> run as processes of their own against a cluster on
/// RabbitMQ (a virtual host per test): an activity made with <c>trellis activity create</c> runs on the host, is listed
/// with that host and its state, transforms what is sent to its inqueue onto its outport, and shows offline when the
/// host is killed and stopped when it is terminated.</summary>
public sealed class ActivityHostCliTests : IAsyncLifetime
{
    private const string Admin = TestGateway.AdminToken;
    private readonly TempFolder _temp = new();
    private MsgFloCluster _cluster = null!;

    public async ValueTask InitializeAsync() => _cluster = await MsgFloCluster.StartAsync("host-cli");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _cluster.DisposeAsync();
        }
        finally
        {
            _temp.Dispose();
        }
    }

    private string Gateway => _cluster.Gateway.Address.ToString();

    /// <summary>This host's entry for the activity in GET /activities, or null while it has none.</summary>
    private async Task<JsonObject?> HostEntryAsync(string activityId, string host)
    {
        var list = (await _cluster.Gateway.GetAsync("/activities", Admin)).Json.AsArray();
        var activity = list.SingleOrDefault(a => (string?)a!["id"] == activityId);
        return activity?["hosts"]?.AsArray().SingleOrDefault(h => (string?)h!["host"] == host)?.AsObject();
    }

    private async Task<JsonObject?> StateAsync(string activityId, string host, string status, CliProcess process)
    {
        try
        {
            return await Waits.UntilAsync(
                () => HostEntryAsync(activityId, host),
                h => (string?)h?["status"] == status,
                $"activity {activityId} to be listed '{status}' on host {host} in GET /activities",
                TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; the host {(process.HasExited ? "exited" : "runs")}, its output: {process.Output}", e);
        }
    }

    private async Task<string> SendAndDumpAsync(string inqueue, string sink, string json)
    {
        var sent = await CliAsync("flow", "send", "--queue", inqueue, "--json", json, "--url", Gateway, "--token", Admin);
        Assert.True(sent.Exit == 0, sent.ToString());
        var dump = await CliAsync("flow", "dump", "--queue", sink, "--amount", "1", "--timeout", "30", "--url", Gateway, "--token", Admin);
        Assert.True(dump.Exit == 0, dump.ToString());
        return dump.Out.Trim();
    }

    [Fact]
    public async Task A_created_activity_runs_on_trellis_host_transforms_what_it_gets_and_shows_offline_when_the_host_is_killed_then_runs_on_activity_start()
    {
        var home = Path.Combine(_temp.Path, "home");
        var name = $"shout-{Guid.NewGuid():N}"[..14];
        Assert.Equal(0, (await CliAsync("activity", "init", "--home", home)).Exit);
        var create = await CliAsync("activity", "create", name, "--lang", "python", "--home", home);
        Assert.True(create.Exit == 0, create.ToString());
        var lines = create.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var id = lines[0].Split(' ')[2];
        Assert.True(Guid.TryParse(id, out _), create.Out);

        // The starter echoes; this one shouts, as a user edits it.
        var main = Path.Combine(lines[1], "main.py");
        var code = await File.ReadAllTextAsync(main, TestContext.Current.CancellationToken);
        Assert.Contains("result = msg[\"data\"]\n", code, StringComparison.Ordinal);
        await File.WriteAllTextAsync(main, code.Replace("result = msg[\"data\"]\n", "result = msg[\"data\"].upper()\n", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        Assert.True((await CliAsync("activity", "enable", name, "--home", home)).Exit == 0);

        // A queue of its own on the activity's outport, as msgflo-dump-message users bind one.
        var sink = $"{name}-sink.IN";
        await _cluster.FlowBroker.DeclareOutportAsync($"{name}.OUT", FlowPortOptions.Default, CancellationToken.None);
        await _cluster.FlowBroker.DeclareInportAsync(sink, FlowPortOptions.Default, CancellationToken.None);
        await _cluster.FlowBroker.AddBindingAsync(FlowBinding.PubSub($"{name}.OUT", sink), CancellationToken.None);

        var hostA = $"host-a-{id[..8]}";
        await using (var host = CliProcess.Start("host", "--home", home, "--broker", _cluster.Broker, "--url", Gateway, "--token", Admin,
            "--host-id", hostA, "--report-interval", "1", "--stop-timeout", "2"))
        {
            var running = await StateAsync(id, hostA, "running", host);
            Assert.NotNull(running!["pid"]);
            await _cluster.ListedAsync(name);
            var listed = await CliAsync("activity", "list", "--home", home, "--url", Gateway, "--token", Admin);
            Assert.True(listed.Exit == 0, listed.ToString());
            Assert.Contains($"{hostA}:running", listed.Out, StringComparison.Ordinal);

            Assert.Equal("\"HELLO\"", await SendAndDumpAsync($"{name}.IN", sink, "\"hello\""));
            Assert.Contains($"host {hostA} on ", host.Output, StringComparison.Ordinal);

            // A host that dies says nothing more: three missed reports and the cluster shows it offline.
            await host.KillAsync();
            var offline = await StateAsync(id, hostA, "offline", host);
            Assert.Null(offline!["pid"]);
        }

        // activity start runs the one activity named, enabled or not, as a host in the foreground.
        Assert.True((await CliAsync("activity", "disable", name, "--home", home)).Exit == 0);
        var hostB = $"host-b-{id[..8]}";
        await using (var start = CliProcess.Start("activity", "start", name, "--home", home, "--broker", _cluster.Broker, "--url", Gateway, "--token", Admin,
            "--host-id", hostB, "--report-interval", "1", "--stop-timeout", "2"))
        {
            await StateAsync(id, hostB, "running", start);
            Assert.Equal("\"WORLD\"", await SendAndDumpAsync($"{name}.IN", sink, "\"world\""));

            // Terminated (Ctrl+C, a service manager): it stops the activity and reports it stopped before it exits.
            var exit = await start.TerminateAsync(TimeSpan.FromSeconds(60));
            Assert.True(exit == CliApp.Ok, $"exit {exit}; output: {start.Output}");
            var stopped = await HostEntryAsync(id, hostB);
            Assert.True((string?)stopped?["status"] == "stopped", $"{stopped?.ToJsonString()}; output: {start.Output}");
            Assert.Equal("offline", (string?)(await HostEntryAsync(id, hostA))?["status"]);
        }
    }
}
