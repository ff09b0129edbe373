using System.CommandLine;
using Trellis.Edge;
using Trellis.Edge.Cli;

var root = new RootCommand(
    "trellis-edge: the device agent that publishes and discovers local services, bridges them into a Trellis cluster from behind NAT, and runs jobs");
root.Options.Add(EdgeCli.Home);
root.Options.Add(EdgeCli.Socket);

var id = new Command("id", "Print this device's provider id (the first physical network card's hardware address)");
id.SetAction(_ =>
{
    Console.WriteLine(ProviderId.Current());
    return 0;
});
root.Subcommands.Add(id);

var info = new Command("info", "Print the agent's version and runtime");
info.SetAction(_ =>
{
    Console.WriteLine($"trellis-edge {AgentVersion.Current} on {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier} ({System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription})");
    return 0;
});
root.Subcommands.Add(info);

DaemonCommands.Add(root);
ServiceCommands.Add(root);
JobCommands.Add(root);
return await root.Parse(args).InvokeAsync();
