using Trellis.Core.Bus;

namespace Trellis.Grains.Apps;

/// <summary>What app grains need from their silo: the agents it offers and the process's message bus (for remote agents
/// and for facts to client watchers).</summary>
/// <param name="Agents">The agents apps can run.</param>
/// <param name="Bus">The bus once it has started.</param>
public sealed record AppRuntime(AppAgents Agents, Func<Task<MessageBus>> Bus)
{
    internal Task<MessageBus> BusAsync() => Bus();
}
