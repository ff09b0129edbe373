using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Trellis.Flows.Broker;
using Trellis.Flows.Discovery;
using Trellis.TestKit;
using Trellis.TestKit.Net;
using Trellis.Transport.RabbitMq.Flows;
using Xunit;

namespace Trellis.Transport.RabbitMq.Tests.Flows;

/// <summary>A real msgflo-nodejs participant (tests/Interop/flows/repeat.js) and our broker on one RabbitMQ: each
/// accepts the other's declarations, we discover it on <c>fbp</c>, wire its outport to our queue and feed its inport.</summary>
public sealed class MsgfloInteropTests : IAsyncLifetime
{
    private const string Hint = "run scripts/deps.sh (apt-get install -y nodejs npm; npm ci in tests/Interop/node)";
    private readonly string _role = $"trellis-repeat-{Guid.NewGuid():N}"[..23];
    private readonly StringBuilder _output = new();
    private RabbitMqFlowBroker? _broker;
    private RabbitMqVirtualHost? _vhost;
    private Process? _participant;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_participant is { HasExited: false })
        {
            _participant.Kill(entireProcessTree: true);
            await _participant.WaitForExitAsync();
        }

        _participant?.Dispose();
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        if (_vhost is not null)
        {
            await _vhost.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_msgflo_nodejs_participant_is_discovered_wired_and_repeats_what_we_send()
    {
        // A virtual host of its own: a Trellis silo of another test on the broker may hold the default fbp queue.
        _vhost = await RabbitMqVirtualHost.CreateAsync("interop");
        var uri = new Uri(_vhost.Uri);
        var root = RepoRoot();
        var msgflo = Path.Combine(root, "tests", "Interop", "node", "node_modules", "msgflo-nodejs", "bin", "msgflo-nodejs");
        Assert.True(File.Exists(msgflo), $"msgflo-nodejs is not installed at {msgflo}: {Hint}");

        _broker = new RabbitMqFlowBroker(new RabbitMqOptions { Uri = uri, ConnectionName = "test flows interop" });
        await _broker.StartAsync(default);
        var (inport, outport) = ($"{_role}.IN", $"{_role}.OUT");

        // Declared by us first (a graph wired before its participant runs): msgflo's own declarations must accept
        // ours, or its channel closes with PRECONDITION_FAILED and the participant never announces itself.
        await _broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        await _broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);
        await _broker.DeclareQueueAsync(FlowNames.DiscoveryQueue, default);

        // Other tests may share fbp: hold (never acknowledge) the announcements that are not ours, so that they go back
        // to the queue for their owners when we stop, and take ours.
        var discovered = new TaskCompletionSource<(ParticipantDefinition Definition, string Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fbp = await _broker.ConsumeAsync(FlowNames.DiscoveryQueue, new FlowConsumerOptions(Prefetch: 200), async (delivery, cancellationToken) =>
        {
            var body = Encoding.UTF8.GetString(delivery.Body.Span);
            if (DiscoveryMessage.TryParse(delivery.Body.Span, TimeSpan.FromMinutes(10), out var definition, out _) && definition.Role == _role)
            {
                discovered.TrySetResult((definition, body));
                await delivery.AckAsync();
            }
        }, default);

        _participant = Start(msgflo, Path.Combine(root, "tests", "Interop", "flows", "repeat.js"), uri);
        var (participant, announcement) = await discovered.Task.Within($"the discovery message of {_role} on fbp; participant output: {Output()}", TimeSpan.FromSeconds(60));
        await fbp.DisposeAsync();
        TestContext.Current.SendDiagnosticMessage($"msgflo-nodejs announced: {announcement}");

        Assert.StartsWith(_role + "-", participant.Id, StringComparison.Ordinal);
        Assert.Equal("trellis/Repeat", participant.Component);
        Assert.Equal(inport, participant.FindInport("in")?.Queue);
        Assert.Equal(outport, participant.FindOutport("out")?.Queue);

        // Declared by msgflo now too: ours again must be accepted as the same.
        await _broker.DeclareInportAsync(inport, FlowPortOptions.Default, default);
        await _broker.DeclareOutportAsync(outport, FlowPortOptions.Default, default);

        var ours = $"trellis.{_role}.IN";
        await _broker.DeclareInportAsync(ours, FlowPortOptions.Default, default);
        await _broker.AddBindingAsync(FlowBinding.PubSub(outport, ours), default);
        var received = new ConcurrentQueue<(string Exchange, string Body)>();
        var count = new CountdownSignal();
        await using var consumer = await _broker.ConsumeAsync(ours, FlowConsumerOptions.Default, async (delivery, _) =>
        {
            received.Enqueue((delivery.Exchange, Encoding.UTF8.GetString(delivery.Body.Span)));
            await delivery.AckAsync();
            count.Increment();
        }, default);

        await _broker.SendToQueueAsync(inport, Encoding.UTF8.GetBytes("{\"hello\":\"msgflo\",\"n\":1}"), null, default);
        await count.WaitForAsync(1, $"the message repeated by {_role} on {outport}; participant output: {Output()}");
        await _broker.PublishAsync(inport, Encoding.UTF8.GetBytes("[2,\"through the inport exchange\"]"), null, default);
        await count.WaitForAsync(2, $"the second message repeated by {_role}; participant output: {Output()}");

        var messages = received.ToArray();
        Assert.All(messages, m => Assert.Equal(outport, m.Exchange));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("{\"hello\":\"msgflo\",\"n\":1}"), JsonNode.Parse(messages[0].Body)), messages[0].Body);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("[2,\"through the inport exchange\"]"), JsonNode.Parse(messages[1].Body)), messages[1].Body);
    }

    [Fact]
    public async Task Msgflo_and_our_broker_accept_each_others_ports_and_round_robin_bindings()
    {
        var uri = Broker.Uri;
        var script = Path.Combine(RepoRoot(), "tests", "Interop", "flows", "bind.js");
        _broker = new RabbitMqFlowBroker(new RabbitMqOptions { Uri = uri, ConnectionName = "test flows interop" });
        await _broker.StartAsync(default);

        // msgflo first, then us: our declarations must equal msgflo's (or RabbitMQ refuses them with 406).
        var (src, tgt, deadletter) = ($"{_role}.A.OUT", $"{_role}.A.IN", $"{_role}.A.DEADLETTER");
        await RunToEndAsync(script, uri, src, tgt, deadletter);
        await DeclareAndBindAsync(src, tgt, deadletter);

        // What msgflo built carries messages for us: a nack on the target goes through dead-<tgt> to the deadletter queue.
        var dead = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var deadConsumer = await _broker.ConsumeAsync(deadletter, FlowConsumerOptions.Default, async (d, _) =>
        {
            dead.TrySetResult(Encoding.UTF8.GetString(d.Body.Span));
            await d.AckAsync();
        }, default);
        await using var nacker = await _broker.ConsumeAsync(tgt, FlowConsumerOptions.Default, static (d, _) => d.NackAsync(), default);
        await _broker.SendToQueueAsync(tgt, Encoding.UTF8.GetBytes("\"refused\""), null, default);
        Assert.Equal("\"refused\"", await dead.Task.Within($"the nacked message on {deadletter}"));

        // Us first, then msgflo: msgflo's declarations must accept ours.
        (src, tgt, deadletter) = ($"{_role}.B.OUT", $"{_role}.B.IN", $"{_role}.B.DEADLETTER");
        await DeclareAndBindAsync(src, tgt, deadletter);
        await RunToEndAsync(script, uri, src, tgt, deadletter);
    }

    private async Task DeclareAndBindAsync(string src, string tgt, string deadletter)
    {
        await _broker!.DeclareOutportAsync(src, FlowPortOptions.Default, default);
        await _broker.DeclareInportAsync(tgt, FlowPortOptions.Default, default);
        await _broker.DeclareInportAsync(deadletter, FlowPortOptions.Default, default);
        await _broker.AddBindingAsync(new FlowBinding(FlowBindingKind.RoundRobin, src, tgt, deadletter), default);
        await _broker.AddBindingAsync(FlowBinding.PubSub(src, deadletter), default);
    }

    private static async Task RunToEndAsync(string script, Uri broker, params string[] arguments)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(broker.ToString());
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().Within($"node {Path.GetFileName(script)} {string.Join(' ', arguments)} to finish", TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, $"msgflo refused the topology (exit {process.ExitCode}): {await stdout}{await stderr}");
    }

    private Process Start(string msgflo, string participant, Uri broker)
    {
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(msgflo);
        info.ArgumentList.Add("--name");
        info.ArgumentList.Add(_role);
        info.ArgumentList.Add(participant);
        info.Environment["MSGFLO_BROKER"] = broker.ToString();

        // Announce every second or so, in case another consumer of fbp holds an announcement for a while.
        info.Environment["MSGFLO_DISCOVERY_PERIOD"] = "2";
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("could not start node");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"node is missing ({e.Message}): {Hint}");
            throw;
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.Length == 0 ? "(none)" : _output.ToString();
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Cluster.sln above {AppContext.BaseDirectory}");
    }
}
