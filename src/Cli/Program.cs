using System.CommandLine;
using Trellis.Cli;

var root = new RootCommand("trellis: operator and developer tool for a Trellis cluster");
root.Subcommands.Add(HealthCommand.Create());
root.Subcommands.Add(GrpcCommand.Create());
root.Subcommands.Add(GraphCommand.Create());
return await root.Parse(args).InvokeAsync();
