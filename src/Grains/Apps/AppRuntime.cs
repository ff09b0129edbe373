using Trellis.Core.Bus;

namespace Trellis.Grains.Apps;

/// <summary>What app grains need from their silo: the agents it offers and the process's message bus (for remote agents
/// and for facts to client watchers).</summary>
/// <param name="Agents">The agents apps can run.</param>
/// <param name="Bus">The bus once it has started.</param>
public sealed record AppRuntime(AppAgents Agents, Func<Task<MessageBus>> Bus)
{
    /// <summary>Told when an app's activation starts and ends (the activation log of <c>Trellis:Grains:ActivationLog</c>);
    /// null when nobody listens.</summary>
    public IAppActivationObserver? Activations { get; init; }

    internal Task<MessageBus> BusAsync() => Bus();
}

/// <summary>Hears of app activations starting (state loaded, before the first call) and ending (after the last call).</summary>
public interface IAppActivationObserver
{
    /// <param name="app">The app.</param>
    /// <param name="silo">The silo the activation runs on, with its generation (Orleans' runtime identity).</param>
    /// <param name="active">True when the activation starts, false when it ends.</param>
    void OnActivation(string app, string silo, bool active);
}
