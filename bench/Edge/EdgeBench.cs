namespace Trellis.Bench.Edge;

/// <summary>edge: issue 12's performance section — the agent's footprint, the reverse proxy through one link, LAN
/// discovery between two agents.</summary>
public static class EdgeBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var exit = await EdgeFootprint.RunAsync(args);
        exit |= await EdgeProxy.RunAsync(args);
        exit |= await EdgeLan.RunAsync(args);
        return exit;
    }
}
