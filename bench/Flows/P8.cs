using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Hosting;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Bench.Flows;

/// <summary>P8: flows on RabbitMQ. P8a — the same stock msgflo-nodejs participants (repeat → double → repeat) wired by
/// Trellis' coordinator and by msgflo's own <c>msgflo-setup</c>; whoever wires them, the coordinator is not in the data
/// path, so the ratio should be 1. P8b — the same pipeline of Trellis' own participants (activities on a Trellis host)
/// against msgflo-nodejs participants with Nagle off. P8d — discovery of 1,000 participants.</summary>
/// <remarks><c>p8 [--count N] [--count-b N] [--participants N] [--rounds N]</c>; the broker from env TRELLIS_BENCH_RABBITMQ.</remarks>
public static class P8
{
    private const string Variable = "TRELLIS_BENCH_RABBITMQ";

    public static async Task<int> RunAsync(string[] args)
    {
        var broker = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(broker) || !NodeParticipants.Available)
        {
            Console.WriteLine($"P8 flows: skipped, needs {Variable}=amqp://… and tests/Interop/node/node_modules (scripts/deps.sh)");
            return 0;
        }

        var count = IntOption(args, "--count", 2000);
        var rounds = Math.Max(1, Harness.Rounds / 2);
        Console.WriteLine($"P8a wiring: stock msgflo-nodejs participants repeat → double → repeat (prefetch 2, Nagle on), {count} messages, {rounds} rounds each side");

        using var home = new ActivityHome();
        await using var trellis = await TrellisSilo.StartAsync(broker, home.Path);
        var round = 0;
        var ours = new List<double>();
        var theirs = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            theirs.Add(await PipelineAsync(broker, $"p8m{round++}", count, noDelay: false, WireWithMsgfloAsync));
            ours.Add(await PipelineAsync(broker, $"p8t{round++}", count, noDelay: false, trellis.WireAsync));
        }

        var (o, t) = (Harness.Median(ours), Harness.Median(theirs));
        Console.WriteLine($"P8a  trellis-wired {o:0} msgs/s   msgflo-wired {t:0} msgs/s   ratio {o / t:0.00}×");

        var participants = IntOption(args, "--participants", 1000);
        var listed = new List<double>();
        var raw = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            listed.Add(await Discovery.TrellisAsync(broker, trellis.Networks, $"p8d{round++}", participants));
            raw.Add(await Discovery.RawAsync(broker, $"p8d{round++}", participants));
        }

        var (l, r) = (Harness.Median(listed), Harness.Median(raw));
        Console.WriteLine($"P8d  {participants} participants announced on fbp → all listed in {l:0.00} s ({participants / l:0}/s)   raw consume+parse+ack {r:0.00} s   ratio {l / r:0.0}× the raw time");

        var countB = IntOption(args, "--count-b", 5000);
        Console.WriteLine($"P8b own participants: Trellis activities (node, stdio protocol) on a Trellis host vs msgflo-nodejs participants with TCP_NODELAY, repeat → double → repeat, {countB} messages");
        ours.Clear();
        theirs.Clear();
        for (var i = 0; i < rounds; i++)
        {
            theirs.Add(await PipelineAsync(broker, $"p8n{round++}", countB, noDelay: true, WireWithMsgfloAsync));
            ours.Add(await ActivitiesAsync(broker, trellis, home, $"p8h{round++}", countB));
        }

        (o, t) = (Harness.Median(ours), Harness.Median(theirs));
        Console.WriteLine($"P8b  trellis activities {o:0} msgs/s   msgflo-nodejs (nodelay) {t:0} msgs/s   ratio {o / t:0.00}×");
        return 0;
    }

    internal static string PipelineFbp(string prefix) =>
        $"{prefix}a(bench/Repeat) OUT -> IN {prefix}d(bench/Double) OUT -> IN {prefix}c(bench/Repeat)\n";

    private static async Task<double> PipelineAsync(string broker, string prefix, int count, bool noDelay, Func<string, string, Task> wire)
    {
        await using var participants = await NodeParticipants.StartAsync(
            broker, noDelay, ($"{prefix}a", "repeat"), ($"{prefix}d", "double"), ($"{prefix}c", "repeat"));
        await wire(prefix, PipelineFbp(prefix));
        return await PipelineDriver.RunAsync(broker, $"{prefix}a.IN", $"{prefix}c.OUT", count, TimeSpan.FromMinutes(3));
    }

    private static async Task<double> ActivitiesAsync(string broker, TrellisSilo trellis, ActivityHome home, string prefix, int count)
    {
        home.Enable($"{prefix}a", "repeat");
        home.Enable($"{prefix}d", "double");
        home.Enable($"{prefix}c", "repeat");
        try
        {
            // The host rescans its home every 2 s, starts the three, and announces them on fbp.
            var roles = new[] { $"{prefix}a", $"{prefix}d", $"{prefix}c" };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await trellis.Networks.ListParticipantsAsync(CancellationToken.None)).Count(p => roles.Contains(p.Definition.Role)) < roles.Length)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"P8b: the activities {string.Join(", ", roles)} were not all listed within 60 s");
                }

                await Task.Delay(100);
            }

            await trellis.WireAsync(prefix, PipelineFbp(prefix));
            return await PipelineDriver.RunAsync(broker, $"{prefix}a.IN", $"{prefix}c.OUT", count, TimeSpan.FromMinutes(3));
        }
        finally
        {
            home.DisableAll();
        }
    }

    private static async Task WireWithMsgfloAsync(string prefix, string fbp)
    {
        var file = Path.Combine(Path.GetTempPath(), $"{prefix}.fbp");
        await File.WriteAllTextAsync(file, fbp);
        try
        {
            await NodeParticipants.RunToolAsync("msgflo-setup", file, "--broker", Environment.GetEnvironmentVariable(Variable)!);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>A Trellis silo on the broker, in this process: its coordinator consumes <c>fbp</c> and wires graphs.</summary>
    private sealed class TrellisSilo : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _data;

        private TrellisSilo(WebApplication app, string data)
        {
            _app = app;
            _data = data;
        }

        public IFlowNetworks Networks => _app.Services.GetRequiredService<IFlowNetworks>();

        public static async Task<TrellisSilo> StartAsync(string broker, string activities)
        {
            var data = Directory.CreateTempSubdirectory("trellis-p8-").FullName;
            var app = TrellisApp.Build([], "silo", new Dictionary<string, string?>
            {
                ["Trellis:Http:Url"] = "http://127.0.0.1:0",
                ["Trellis:Grpc:Url"] = "",
                ["Trellis:Transport:Provider"] = "RabbitMq",
                ["Trellis:Transport:RabbitMq:Uri"] = broker,
                ["Trellis:Storage:Provider"] = "Memory",
                ["Trellis:Storage:Sqlite:Path"] = Path.Combine(data, "trellis.db"),
                ["Trellis:Cluster:SiloPort"] = FreePort(),
                ["Trellis:Cluster:GatewayPort"] = FreePort(),
                ["Trellis:Activities:Home"] = activities,
                ["Logging:LogLevel:Default"] = "Warning",
            });
            await app.StartAsync();
            return new TrellisSilo(app, data);
        }

        /// <summary>Sets the graph and waits until no node is pending (its participants have been discovered and bound).</summary>
        public async Task WireAsync(string prefix, string fbp)
        {
            var setup = await Networks.SetGraphAsync(prefix, FbpParser.Parse(fbp), CancellationToken.None);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (setup.Pending.Count > 0)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"P8: still pending after 60 s: {string.Join(", ", setup.Pending)}");
                }

                await Task.Delay(50);
                setup = await Networks.GetSetupAsync(prefix, CancellationToken.None);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            Directory.Delete(_data, recursive: true);
        }
    }
}
