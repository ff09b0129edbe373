using System.CommandLine;
using System.Reflection;

var root = new RootCommand(
    "trellis-edge: the device agent that publishes and discovers local services and bridges them into a Trellis cluster from behind NAT");
var id = new Command("id", "Print this device's provider id (the first network interface's hardware address)");
id.SetAction(_ =>
{
    Console.WriteLine(Trellis.Edge.ProviderId.Current());
    return 0;
});
root.Subcommands.Add(id);
var info = new Command("info", "Print the agent's version and runtime");
info.SetAction(_ =>
{
    var version = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
    Console.WriteLine($"trellis-edge {version} on {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier} ({System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription})");
    return 0;
});
root.Subcommands.Add(info);
return await root.Parse(args).InvokeAsync();
