using System.CommandLine;

namespace Trellis.Edge.Cli;

internal static class DaemonCommands
{
    public static void Add(RootCommand root)
    {
    }
}
