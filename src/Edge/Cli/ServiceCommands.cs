using System.CommandLine;

namespace Trellis.Edge.Cli;

internal static class ServiceCommands
{
    public static void Add(RootCommand root)
    {
    }
}
