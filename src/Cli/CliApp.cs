using System.CommandLine;

namespace Trellis.Cli;

/// <summary>The <c>trellis</c> command line: builds the command tree and runs it, so tests can run it in-process with their
/// own output writers. Exit codes: 0 ok, 1 a request was refused or failed, 2 usage error, 3 the cluster is unreachable.</summary>
public static class CliApp
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;

    public static RootCommand Create()
    {
        var root = new RootCommand("trellis: operator and developer tool for a Trellis cluster");
        foreach (var option in ConnectionOptions.Create())
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(HealthCommand.Create());
        root.Subcommands.Add(GrpcCommand.Create());
        root.Subcommands.Add(NodesCommand.Create());
        foreach (var verb in MessagingCommands.Create())
        {
            root.Subcommands.Add(verb);
        }

        root.Subcommands.Add(AppsCommand.Create());
        root.Subcommands.Add(ErrorsCommand.Create());
        root.Subcommands.Add(GraphCommand.Create());
        root.Subcommands.Add(FlowCommand.Create());
        root.Subcommands.Add(ParticipantsCommand.Create());
        root.Subcommands.Add(ActivityCommand.Create());
        root.Subcommands.Add(HostCommand.Create());
        root.Subcommands.Add(EdgeCommand.Create());
        root.Subcommands.Add(ConfigCommand.Create());
        root.Subcommands.Add(CompletionCommand.Create());
        return root;
    }

    /// <summary>Runs the command line; a usage error prints the problem and exits with <see cref="Usage"/>.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default) =>
        RunAsync(args, new CliContext { Output = output ?? Console.Out, Error = error ?? Console.Error }, cancellationToken);

    /// <summary>Runs the command line with the streams and environment of <paramref name="context"/>.</summary>
    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken = default)
    {
        using var _ = CliContext.Enter(context);
        var configuration = new InvocationConfiguration { Output = context.Output, Error = context.Error };
        // No response files: "@scope/name" is an activity name and "@file" a -d value, not files of arguments.
        var parse = Create().Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                await configuration.Error.WriteLineAsync($"trellis: {e.Message}");
            }

            await configuration.Error.WriteLineAsync("run 'trellis --help' for usage");
            return Usage;
        }

        if (HostCommand.TerminationTimeout(parse) is { } timeout)
        {
            // Ctrl+C or SIGTERM lets a host stop its activities gracefully instead of the default 2 s.
            configuration.ProcessTerminationTimeout = timeout;
        }

        return await parse.InvokeAsync(configuration, cancellationToken);
    }
}
