using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>Routes a message to its protocol's handler; answers unknown protocols and unsupported ones with an error.</summary>
internal static class FbpCommands
{
    public static Task DispatchAsync(FbpSession session, FbpMessage message, CancellationToken cancellationToken) => message.Protocol switch
    {
        "runtime" => RuntimeCommands.HandleAsync(session, message, cancellationToken),
        "graph" => GraphCommands.HandleAsync(session, message, cancellationToken),
        "component" => ComponentCommands.HandleAsync(session, message, cancellationToken),
        "network" => NetworkCommands.HandleAsync(session, message, cancellationToken),
        "trace" => throw new FbpProtocolException($"trace:{message.Command} is not supported: this runtime records no flowtraces"),
        _ => throw new FbpProtocolException(
            $"unknown protocol '{message.Protocol}' (this runtime speaks runtime, graph, component and network)"),
    };

    /// <summary>Refuses a graph that was never created (by graph:clear or the flows API); the main graph always exists.
    /// The words are those fbp-protocol's runner expects.</summary>
    public static async Task RequireGraphAsync(IFlowNetworks networks, string graph, CancellationToken cancellationToken)
    {
        if (graph == IFlowNetworks.DefaultGraph)
        {
            return;
        }

        var graphs = await networks.ListGraphsAsync(cancellationToken);
        if (!graphs.Contains(graph, StringComparer.Ordinal))
        {
            throw new FbpProtocolException("Requested graph not found");
        }
    }
}
