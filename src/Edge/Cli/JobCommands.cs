using System.CommandLine;

namespace Trellis.Edge.Cli;

internal static class JobCommands
{
    public static void Add(RootCommand root)
    {
    }
}
