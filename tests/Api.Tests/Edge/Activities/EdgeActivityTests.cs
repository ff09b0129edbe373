using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Edge.Link;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.Edge.Link;
using Trellis.Flows.Activities;
using Trellis.Flows.Broker;
using Trellis.TestKit;
using static Trellis.Api.Tests.Activities.ActivityTesting;

namespace Trellis.Api.Tests.Edge.Activities;

/// <summary>Activities hosted by a device's agent: the gateway holding the link makes each a participant on the cluster's
/// flow broker, so a graph carries messages through the device's process and back, and the cluster lists it with the
/// device's provider id as its host.</summary>
public sealed class EdgeActivityTests
{
    private const string Admin = TestGateway.AdminToken;

    private static async Task<JsonObject?> HostAsync(TestGateway gateway, Guid id, string host)
    {
        var response = await gateway.GetAsync($"/activities/{id}", Admin);
        return response.Status == 200 ? response.Json["hosts"]!.AsArray().FirstOrDefault(h => (string?)h!["host"] == host)?.AsObject() : null;
    }

    [Fact]
    public async Task A_device_activity_is_a_participant_a_graph_runs_through_and_it_shows_offline_when_the_link_goes()
    {
        using var temp = new TempFolder();

        // The device's home: upper (python), enabled, beside an activity whose manifest is broken.
        var deviceHome = Path.Combine(temp.Path, "device");
        var deviceStore = new ActivityStore(deviceHome);
        deviceStore.Initialize();
        var upper = deviceStore.AddFromDirectory(UniqueCopy("upper", temp.Path, out var upperName));
        await deviceStore.EnableAsync(upperName, TestContext.Current.CancellationToken);
        Directory.CreateDirectory(Path.Combine(deviceStore.ActivitiesDirectory, Guid.NewGuid().ToString()));
        File.WriteAllText(Path.Combine(Directory.GetDirectories(deviceStore.ActivitiesDirectory).First(d => d != upper.Directory), "activity.json"), """{"name":"broken"}""");

        // The silo's home: reverse (node), so the graph crosses from the device into the cluster's own host.
        var siloHome = Path.Combine(temp.Path, "silo");
        var siloStore = new ActivityStore(siloHome);
        siloStore.Initialize();
        var reverse = siloStore.AddFromDirectory(UniqueCopy("reverse", temp.Path, out var reverseName));
        await siloStore.EnableAsync(reverseName, TestContext.Current.CancellationToken);

        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Trellis:Activities:Home"] = siloHome,
            ["Trellis:Activities:HostId"] = "silo-1",
        });
        if (gateway.Services.GetService<IFlowBroker>() is not { } broker)
        {
            Assert.Skip("this gateway has no flow broker");
            return;
        }

        await using var host = await LinkHost.StartAsync(gateway);
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(gateway, provider);
        var device = new TestDevice(host.Address, provider, token, activityHome: deviceHome);
        await using (device)
        {
            device.Start();
            await device.WaitUpAsync("linking");

            // Listed where it runs: on the device, by its provider id.
            var run = await Waits.UntilAsync(() => HostAsync(gateway, upper.Manifest.Id, provider), static h => (string?)h?["status"] == "running", $"{upperName} running on {provider} in GET /activities");
            Assert.NotNull(run!["pid"]);
            Assert.Equal(upper.Manifest.Role, (string?)run["role"]);
            var cli = await CliAsync("activity", "list", "--home", deviceHome, "--url", gateway.Address.ToString(), "--token", Admin);
            Assert.True(cli.Exit == 0, cli.ToString());
            Assert.Contains($"{provider}:running", cli.Out);

            // The broken manifest is reported by the device and the gateway, and stops nothing.
            Assert.Contains(device.Activities!.Problems, p => p.Contains("field 'id' is missing", StringComparison.Ordinal));
            await Waits.UntilAsync(() => Task.FromResult(gateway.Logs.Entries.Select(static e => e.Message).ToList()), l => l.Any(m => m.Contains($"Device {provider} reports a problem with its activity home", StringComparison.Ordinal)), "the gateway to log the device's problem");

            // A graph edge from the device's activity to the silo's: what enters upper on the device comes out of reverse.
            await Waits.UntilAsync(() => HostAsync(gateway, reverse.Manifest.Id, "silo-1"), static h => (string?)h?["status"] == "running", $"{reverseName} running on silo-1");
            var graph = $"activities/{upperName}";
            var connect = await gateway.SendAsync(HttpMethod.Post, "/activities/connect", $$"""{"from":"{{upperName}}","to":"{{reverseName}}","graph":"{{graph}}"}""", Admin);
            Assert.True(connect.Status == 200, connect.ToString());
            await Waits.UntilAsync(
                async () => (await gateway.GetAsync($"/flows/setups/{graph}", Admin)).Body,
                body => body.Contains($"{upper.Manifest.QueueOf("out")} -> {reverse.Manifest.QueueOf("in")}", StringComparison.Ordinal),
                $"the binding {upperName}.OUT -> {reverseName}.IN in graph {graph}");

            var outport = Channel.CreateUnbounded<string>();
            await using (await broker.TapAsync(reverse.Manifest.QueueOf("out"), (_, body, _) =>
            {
                outport.Writer.TryWrite(Encoding.UTF8.GetString(body.Span));
                return ValueTask.CompletedTask;
            }, TestContext.Current.CancellationToken))
            {
                await broker.SendToQueueAsync(upper.Manifest.QueueOf("in"), "\"edge\""u8.ToArray(), null, TestContext.Current.CancellationToken);
                Assert.Equal("\"EGDE\"", await outport.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().Within($"'edge' through {upperName} on {provider} and {reverseName} on silo-1"));
            }

            // It crashes on the device: restarted there, and the cluster sees the restart.
            await broker.SendToQueueAsync(upper.Manifest.QueueOf("in"), """{"crash":9}"""u8.ToArray(), null, TestContext.Current.CancellationToken);
            var restarted = await Waits.UntilAsync(() => HostAsync(gateway, upper.Manifest.Id, provider), static h => (int?)h?["restarts"] >= 1 && (string?)h?["status"] == "running", $"{upperName} restarted on {provider}");
            Assert.Equal("exited with code 9", (string?)restarted!["lastError"]);
        }

        // The link is gone: the device's run shows offline, or stopped when the agent's last word before it went was
        // that it had stopped its activities (it stops them before it closes its link); the silo's is untouched.
        var offline = await Waits.UntilAsync(() => HostAsync(gateway, upper.Manifest.Id, provider), static h => (string?)h?["status"] is "offline" or "stopped", $"{upperName} on {provider} offline or stopped once its link ended");
        Assert.Null(offline!["pid"]);
        Assert.Equal("running", (string?)(await HostAsync(gateway, reverse.Manifest.Id, "silo-1"))!["status"]);
    }

    [Fact]
    public async Task Bad_activity_messages_on_a_link_are_refused_and_the_link_goes_on()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var host = await LinkHost.StartAsync(gateway);
        var provider = Devices.NewProvider();
        var token = await Devices.IssueTokenAsync(gateway, provider);
        using var channel = GrpcChannel.ForAddress(host.Address);
        using var call = Devices.RawLink(channel, token);
        var hello = Devices.Hello(provider);
        var good = new ActivityManifest(Guid.NewGuid(), $"ok-{Guid.NewGuid():N}"[..12], "1.0.0", null, [], ["sh"], ["in"], ["out"]);
        hello.Hello.Activities = new ActivitySet
        {
            Activities =
            {
                new EdgeActivity { Id = Guid.NewGuid().ToString(), Name = "bad", State = "running", Manifest = "{" },
                new EdgeActivity { Id = Guid.NewGuid().ToString(), Name = "other", State = "running", Manifest = good.ToJson().ToJsonString() },
                new EdgeActivity { Id = good.Id.ToString(), Name = good.Name, State = "dancing", Manifest = good.ToJson().ToJsonString() },
            },
        };
        await call.RequestStream.WriteAsync(hello, TestContext.Current.CancellationToken);
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(LinkMessage.KindOneofCase.Welcome, call.ResponseStream.Current.KindCase);

        // None of them is taken; an output or ack for what is not there is ignored.
        await call.RequestStream.WriteAsync(new DeviceMessage { ActivityOutput = new ActivityOutput { ActivityId = good.Id.ToString(), Port = "out", Data = ByteString.CopyFromUtf8("1") } }, TestContext.Current.CancellationToken);
        await call.RequestStream.WriteAsync(new DeviceMessage { ActivityAck = new ActivityAck { ActivityId = good.Id.ToString(), DeliveryId = "nope" } }, TestContext.Current.CancellationToken);

        // Then a good one: listed running.
        await call.RequestStream.WriteAsync(new DeviceMessage
        {
            Activities = new ActivitySet { Activities = { new EdgeActivity { Id = good.Id.ToString(), Name = good.Name, State = "running", Pid = 12, Manifest = good.ToJson().ToJsonString() } } },
        }, TestContext.Current.CancellationToken);
        var run = await Waits.UntilAsync(() => HostAsync(gateway, good.Id, provider), static h => (string?)h?["status"] == "running", $"{good.Name} running on {provider}");
        Assert.Equal(12, (int?)run!["pid"]);

        var messages = gateway.Logs.Entries.Select(static e => e.Message).ToList();
        Assert.Contains(messages, m => m.Contains("activity 'bad' was refused", StringComparison.Ordinal) && m.Contains("not valid JSON", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("activity 'other' was refused", StringComparison.Ordinal) && m.Contains("is not its manifest's", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("state 'dancing' is not one of", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("which it does not host", StringComparison.Ordinal));
        await call.RequestStream.CompleteAsync();
    }
}
