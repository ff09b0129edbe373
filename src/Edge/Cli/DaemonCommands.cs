using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Trellis.Edge.Daemon;

namespace Trellis.Edge.Cli;

/// <summary><c>trellis-edge daemon</c>: runs the agent in the foreground until SIGINT or SIGTERM (its jobs keep running).</summary>
internal static class DaemonCommands
{
    public static void Add(RootCommand root)
    {
        var gateway = new Option<string?>("--gateway") { Description = "The gateway's gRPC address to link to, e.g. http://gw:5081 (TRELLIS_EDGE_GATEWAY); none: no WAN scope" };
        var gatewayHttp = new Option<string?>("--gateway-http") { Description = "The gateway's HTTP address for downloading builds (default: the gRPC address with port 5080 when it is 5081, else the same)" };
        var token = new Option<string?>("--token") { Description = "The device's token, issued by 'trellis edge token issue' (TRELLIS_EDGE_TOKEN; prefer the variable: arguments show in ps)" };
        var provider = new Option<string?>("--provider") { Description = "The provider id (default: the first physical network card's hardware address)" };
        var httpPort = new Option<int?>("--http-port") { Description = "The local API's loopback HTTP port, 0 for none (7420)" };
        var lanPort = new Option<int?>("--lan-port") { Description = "The UDP port of LAN discovery, 0 to turn the LAN scope off (7421)" };
        var activities = new Option<string?>("--activities") { Description = "An activity home (trellis activity init) whose enabled activities the agent runs as flow participants of the cluster (TRELLIS_EDGE_ACTIVITIES)" };
        var noUpdate = new Option<bool>("--no-update") { Description = "Do not update from the builds the cluster serves (also TRELLIS_EDGE_NOUPDATE=1)" };
        var logLevel = new Option<string>("--log-level", "-l") { Description = "debug, info, warn or error", DefaultValueFactory = _ => "info" };
        var daemon = new Command("daemon", "Run the agent: local API, services and discovery, jobs, and the link to a gateway")
        {
            gateway, gatewayHttp, token, provider, httpPort, lanPort, activities, noUpdate, logLevel,
        };
        daemon.SetAction(async (parse, cancellationToken) =>
        {
            if (AgentLog.ParseLevel(parse.GetValue(logLevel)!) is not { } level)
            {
                await Console.Error.WriteLineAsync($"trellis-edge: --log-level '{parse.GetValue(logLevel)}' is not one of debug, info, warn, error");
                return EdgeCli.Usage;
            }

            var options = EdgeCli.Options(parse);
            try
            {
                options = options with
                {
                    Gateway = Address(parse.GetValue(gateway) ?? Environment.GetEnvironmentVariable("TRELLIS_EDGE_GATEWAY"), "--gateway"),
                    GatewayHttp = Address(parse.GetValue(gatewayHttp), "--gateway-http"),
                    Token = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("TRELLIS_EDGE_TOKEN"),
                    Provider = parse.GetValue(provider) is { Length: > 0 } p ? Provider(p) : options.Provider,
                    HttpPort = Port(parse.GetValue(httpPort) ?? options.HttpPort, "--http-port"),
                    LanPort = Port(parse.GetValue(lanPort) ?? options.LanPort, "--lan-port"),
                    AutoUpdate = options.AutoUpdate && !parse.GetValue(noUpdate),
                    ActivitiesHome = parse.GetValue(activities) is { Length: > 0 } a ? ActivitiesHome(a) : options.ActivitiesHome,
                };
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync($"trellis-edge: {e.Message}");
                return EdgeCli.Usage;
            }

            if (options.Gateway is not null && string.IsNullOrEmpty(options.Token))
            {
                await Console.Error.WriteLineAsync("trellis-edge: --gateway needs the device's token (--token or TRELLIS_EDGE_TOKEN); the cluster's admin issues it: trellis edge token issue <provider>");
                return EdgeCli.Usage;
            }

            var logger = new AgentLog(level);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            EdgeDaemon agent;
            try
            {
                agent = await EdgeDaemon.StartAsync(options, logger, stop.Token);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"trellis-edge: cannot start: {e.Message}");
                return EdgeCli.Refused;
            }

            await using (agent)
            {
                await Task.WhenAny(agent.Exited, Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default));
            }

            return EdgeCli.Ok;
        });
        root.Subcommands.Add(daemon);
    }

    private static Uri? Address(string? text, string option)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"{option} '{text}' is not an http:// or https:// address");
        }

        return uri;
    }

    private static string ActivitiesHome(string path) =>
        File.Exists(Path.Combine(path, "config.json"))
            ? Path.GetFullPath(path)
            : throw new ArgumentException($"--activities '{path}' is not an activity home (no config.json): create one with 'trellis activity init --home {path}'");

    private static int Port(int port, string option) =>
        port is >= 0 and <= 65535 ? port : throw new ArgumentException($"{option} {port} is not a port (0-65535)");

    private static string Provider(string text) =>
        text.Length is > 0 and <= 64 && text.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
            ? text
            : throw new ArgumentException($"--provider '{text}' must be 1-64 characters of a-z, 0-9 and '-'");
}
