using System.Text.Json;

namespace Trellis.Grains.Apps;

/// <summary>The behaviour of an app: a step from (state, event) to (new state, effects), as Gall agents are.</summary>
/// <remarks>
/// An agent keeps no state of its own: the cluster stores the app's state and hands it in with every event, then
/// applies the step's effects once the new state is durable. A step that throws is a nack: the state does not change,
/// no effect happens, and the error goes back to whoever caused the event. Agents are .NET classes in the silo
/// (<see cref="Agent{TState}"/>) or remote (<see cref="RemoteAgent"/>, any node that serves a topic).
/// </remarks>
public interface IAgent
{
    /// <summary>The version of this agent's code; when it differs from the version that wrote the stored state, the
    /// app runs a <c>load</c> event with the old state and version before anything else (the upgrade hook).</summary>
    ValueTask<string> VersionAsync(CancellationToken cancellationToken);

    /// <summary>Runs one event; throws to nack it.</summary>
    ValueTask<AgentStep> StepAsync(AgentEvent e, CancellationToken cancellationToken);
}

/// <summary>What an agent is asked to handle.</summary>
public enum AgentEventKind
{
    /// <summary>The app was created; <see cref="AgentEvent.Data"/> holds the creator's init argument.</summary>
    Init,

    /// <summary>A poke with a mark and data: ack by returning, nack by throwing.</summary>
    Poke,

    /// <summary>A subscriber wants the facts on <see cref="AgentEvent.Path"/>; throwing refuses it. <see cref="AgentEffect.Give"/>
    /// effects go to the new subscriber only (its initial facts).</summary>
    Watch,

    /// <summary>A subscriber left <see cref="AgentEvent.Path"/>.</summary>
    Leave,

    /// <summary>A read-only query: return <see cref="AgentStep.Peek"/>; state changes and effects are ignored.</summary>
    Peek,

    /// <summary>An answer to the app's own poke or watch: poke-ack, watch-ack, fact or kick (see <see cref="AgentSign"/>).</summary>
    Sign,

    /// <summary>The code changed version: <see cref="AgentEvent.State"/> is the old state, <see cref="AgentEvent.OldVersion"/> the old version.</summary>
    Load,
}

/// <summary>One event for an agent, with the app's current state.</summary>
public sealed record AgentEvent(AgentEventKind Kind, string App, JsonElement? State)
{
    /// <summary>The poke's mark (its kind, like a Gall mark).</summary>
    public string? Mark { get; init; }

    /// <summary>The poke's data, or the init argument.</summary>
    public JsonElement? Data { get; init; }

    /// <summary>The subscription path of a watch, leave or peek.</summary>
    public string? Path { get; init; }

    /// <summary>Who watches or leaves: a client subscriber id, or <c>app#wire</c> for an app.</summary>
    public string? Subscriber { get; init; }

    /// <summary>The answer being delivered (sign events).</summary>
    public AgentSign? Sign { get; init; }

    /// <summary>The version that wrote <see cref="State"/> (load events).</summary>
    public string? OldVersion { get; init; }

    /// <summary>The id of the message that caused the event (pokes).</summary>
    public string? MessageId { get; init; }

    /// <summary>The app that sent a poke, when an app did.</summary>
    public string? Source { get; init; }
}

/// <summary>An answer to an app's own poke or watch, delivered as a sign event.</summary>
/// <param name="Kind">poke-ack, watch-ack, fact or kick.</param>
/// <param name="Wire">The wire the app named when it poked or watched.</param>
/// <param name="App">The app that answered.</param>
/// <param name="Path">The subscription path (watch-ack, fact, kick).</param>
/// <param name="Data">The fact's data.</param>
/// <param name="Error">For a nack (poke-ack or watch-ack that failed): the error; null means ack.</param>
public sealed record AgentSign(string Kind, string Wire, string App, string? Path = null, JsonElement? Data = null, string? Error = null);

/// <summary>What a step returns: the new state (or unchanged), the effects to carry out, and a peek's answer.</summary>
public sealed class AgentStep
{
    public static AgentStep Unchanged => new();

    /// <summary>True when <see cref="State"/> replaces the app's state.</summary>
    public bool StateChanged { get; init; }

    /// <summary>The new state (null clears it), when <see cref="StateChanged"/>.</summary>
    public JsonElement? State { get; init; }

    public IReadOnlyList<AgentEffect> Effects { get; init; } = [];

    /// <summary>A peek's answer; null means nothing at that path (404).</summary>
    public JsonElement? Peek { get; init; }
}

/// <summary>An effect of a step, carried out after the new state is durable.</summary>
public abstract record AgentEffect
{
    /// <summary>A fact to every subscriber of <paramref name="Path"/>.</summary>
    public sealed record Fact(string Path, JsonElement Data) : AgentEffect;

    /// <summary>During a watch: a fact to the new subscriber only (its initial snapshot).</summary>
    public sealed record Give(JsonElement Data) : AgentEffect;

    /// <summary>Ends the subscriptions on <paramref name="Path"/> (of one subscriber, or all when null).</summary>
    public sealed record Kick(string Path, string? Subscriber = null) : AgentEffect;

    /// <summary>Pokes another app; its ack or nack comes back as a poke-ack sign on <paramref name="Wire"/>.</summary>
    public sealed record Poke(string App, string Mark, JsonElement Data, string Wire) : AgentEffect;

    /// <summary>Watches a path of another app; a watch-ack, then facts and finally a kick come back as signs on <paramref name="Wire"/>.</summary>
    public sealed record Watch(string App, string Path, string Wire) : AgentEffect;

    /// <summary>Stops watching.</summary>
    public sealed record Leave(string App, string Path, string Wire) : AgentEffect;

    /// <summary>Creates the child app <c>this/<paramref name="Name"/></c> running <paramref name="Agent"/>.</summary>
    public sealed record CreateChild(string Name, string Agent, JsonElement? Init = null) : AgentEffect;

    /// <summary>Kills a child app (and its children).</summary>
    public sealed record KillChild(string Name) : AgentEffect;
}
