using System.CommandLine;
using Microsoft.Extensions.Logging;
using Trellis.Flows.Activities;
using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.Transport.RabbitMq;
using Trellis.Transport.RabbitMq.Flows;

namespace Trellis.Cli;

/// <summary><c>trellis host --home H --broker amqp://… [--url GATEWAY]</c> (and <c>trellis activity start [A]</c>): runs
/// the enabled activities of a home (or the one named) in the foreground as MsgFlo participants on RabbitMQ, following
/// enable/disable in the home, until Ctrl+C. With <c>--url</c>, each state change is reported to the cluster.</summary>
internal static class HostCommand
{
    public const string DefaultBroker = "amqp://guest:guest@127.0.0.1:5672";

    public static Command Create() =>
        Create("host", "Run this machine's enabled activities as MsgFlo participants (a Trellis host)", withActivity: false, ActivityCommand.HomeOption());

    public static Command Create(string name, string description, bool withActivity, Option<string?> home)
    {
        var activity = new Argument<string?>("activity") { Description = "run only this activity (uuid, name or @scope/name)", Arity = ArgumentArity.ZeroOrOne };
        var broker = new Option<string>("--broker") { Description = "amqp:// URL of RabbitMQ (or TRELLIS_BROKER)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TRELLIS_BROKER") is { Length: > 0 } b ? b : DefaultBroker };
        var url = new Option<Uri?>("--url") { Description = "a gateway to report activity states to", CustomParser = static result => GatewayUrl(result) };
        var token = ClusterClient.TokenOption();
        var prefetch = new Option<int>("--prefetch") { Description = "messages in flight per activity", DefaultValueFactory = _ => 64 };
        var hostId = new Option<string?>("--host-id") { Description = "this host's id in participant ids and states (default machine name + random)" };
        var reportInterval = new Option<double>("--report-interval") { Description = "seconds between state reports to --url (0: only changes); the cluster shows a host offline after 3 missed reports", DefaultValueFactory = _ => 30 };
        var stopTimeout = new Option<double>("--stop-timeout") { Description = "seconds a stopping activity gets to answer what it holds before it is killed", DefaultValueFactory = _ => 5 };
        var command = new Command(name, description) { broker, url, token, prefetch, hostId, reportInterval, stopTimeout };
        if (withActivity)
        {
            command.Arguments.Add(activity);
        }
        else
        {
            command.Options.Add(home);
        }

        command.SetAction((parse, ct) => ActivityCommand.RunAsync(parse, async output =>
        {
            var store = ActivityCommand.Store(parse, home);
            var selector = withActivity ? parse.GetValue(activity) : null;
            Guid? only = selector is null ? null : store.Find(selector).Manifest.Id;
            if (parse.GetValue(prefetch) < 1)
            {
                throw Core.Errors.TrellisException.Invalid($"--prefetch must be 1 or more, not {parse.GetValue(prefetch)}");
            }

            await using var flowBroker = OpenBroker(parse.GetValue(broker)!);
            using var loggers = new ActivityConsoleLogger(parse.InvocationConfiguration.Error);
            using var sink = parse.GetValue(url) is { } gateway ? new ActivityStateReporter(gateway, parse.GetValue(token), loggers, activityId => store.TryFind(activityId.ToString())?.Manifest) : null;
            if (parse.GetValue(reportInterval) is < 0 or > 86_400 || parse.GetValue(stopTimeout) is < 0 or > 3_600)
            {
                throw Core.Errors.TrellisException.Invalid("--report-interval must be 0 to 86400 seconds and --stop-timeout 0 to 3600 seconds");
            }

            var options = new ActivityHostOptions
            {
                Prefetch = parse.GetValue(prefetch),
                ReportInterval = TimeSpan.FromSeconds(parse.GetValue(reportInterval)),
                StopTimeout = TimeSpan.FromSeconds(parse.GetValue(stopTimeout)),
            };
            if (parse.GetValue(hostId) is { Length: > 0 } id)
            {
                options.HostId = id;
            }

            await flowBroker.StartAsync(ct);
            await using var host = new ActivityHost(flowBroker, options, sink, loggers);
            await output.WriteLineAsync($"host {options.HostId} on {flowBroker.Name}, home {store.Home}");
            while (!ct.IsCancellationRequested)
            {
                var wanted = store.List().Where(a => only is { } o ? a.Manifest.Id == o : a.Enabled).ToList();
                await host.SyncAsync(wanted, ct);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(2), ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            return CliApp.Ok;
        }));
        return command;
    }

    /// <summary>For a command that hosts activities, how long the process waits after Ctrl+C or SIGTERM: the activities'
    /// grace period and some seconds to report their states; null for other commands.</summary>
    public static TimeSpan? TerminationTimeout(ParseResult parse)
    {
        var option = parse.CommandResult.Command.Options.FirstOrDefault(static o => o.Name == "--stop-timeout");
        return option is Option<double> stop ? TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(stop), 0, 3_600) + 15) : null;
    }

    /// <summary>--url as an http(s) address (System.CommandLine has no parser of its own for Uri).</summary>
    private static Uri? GatewayUrl(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            return uri;
        }

        result.AddError($"--url must be an http:// or https:// URL, not '{text}'");
        return null;
    }

    private static IFlowBroker OpenBroker(string url)
    {
        if (url == "inmemory")
        {
            return new InMemoryFlowBroker();
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps"))
        {
            throw Core.Errors.TrellisException.Invalid($"--broker must be an amqp:// or amqps:// URL, not '{url}'");
        }

        return new RabbitMqFlowBroker(new RabbitMqOptions { Uri = uri, ConnectionName = "trellis-host" });
    }
}
