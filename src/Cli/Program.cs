using System.CommandLine;
using Trellis.Cli;

var root = new RootCommand("trellis: operator and developer tool for a Trellis cluster");
root.Subcommands.Add(HealthCommand.Create());
return await root.Parse(args).InvokeAsync();
