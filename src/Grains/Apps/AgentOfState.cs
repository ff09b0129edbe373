using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Grains.Apps;

/// <summary>A .NET agent whose state is a <typeparamref name="TState"/> object: override the events it handles,
/// change the state in place and ask for effects through the <see cref="AgentContext"/>.</summary>
/// <remarks>Throwing from any handler nacks the event (the state change is discarded and no effect happens).</remarks>
public abstract class Agent<TState> : IAgent
    where TState : class, new()
{
    /// <summary>The code version; change it when the state's shape changes and handle the old shape in <see cref="OnLoad"/>.</summary>
    public virtual string Version => "1";

    protected virtual JsonSerializerOptions StateJson => JsonDefaults.Options;

    public ValueTask<string> VersionAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Version);

    public ValueTask<AgentStep> StepAsync(AgentEvent e, CancellationToken cancellationToken)
    {
        var context = new AgentContext(e);
        if (e.Kind == AgentEventKind.Load)
        {
            var loaded = OnLoad(context, e.State, e.OldVersion ?? "");
            return ValueTask.FromResult(Step(loaded, context));
        }

        var state = e.State is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } stored
            ? stored.Deserialize<TState>(StateJson) ?? new TState()
            : new TState();
        switch (e.Kind)
        {
            case AgentEventKind.Init:
                OnInit(context, state, e.Data);
                break;
            case AgentEventKind.Poke:
                OnPoke(context, state, e.Mark ?? "", e.Data ?? default);
                break;
            case AgentEventKind.Watch:
                OnWatch(context, state, e.Path ?? "/");
                break;
            case AgentEventKind.Leave:
                OnLeave(context, state, e.Path ?? "/");
                break;
            case AgentEventKind.Peek:
                return ValueTask.FromResult(new AgentStep { Peek = OnPeek(state, e.Path ?? "/") is { } answer ? JsonSerializer.SerializeToElement(answer, StateJson) : null });
            case AgentEventKind.Sign:
                OnSign(context, state, e.Sign!);
                break;
            default:
                throw TrellisException.Invalid($"unknown agent event '{e.Kind}'");
        }

        return ValueTask.FromResult(Step(state, context));
    }

    /// <summary>The app was created with <paramref name="init"/> (null when none).</summary>
    protected virtual void OnInit(AgentContext context, TState state, JsonElement? init)
    {
    }

    /// <summary>A poke; the default refuses every poke.</summary>
    protected virtual void OnPoke(AgentContext context, TState state, string mark, JsonElement data) =>
        throw TrellisException.Invalid($"app {context.App} takes no poke with mark '{mark}'");

    /// <summary>A new subscriber on <paramref name="path"/>; the default refuses every path.</summary>
    protected virtual void OnWatch(AgentContext context, TState state, string path) =>
        throw TrellisException.Invalid($"app {context.App} has no subscription path '{path}'");

    protected virtual void OnLeave(AgentContext context, TState state, string path)
    {
    }

    /// <summary>A read-only query; return null when there is nothing at <paramref name="path"/>.</summary>
    protected virtual object? OnPeek(TState state, string path) => null;

    protected virtual void OnSign(AgentContext context, TState state, AgentSign sign)
    {
    }

    /// <summary>The upgrade hook: the stored state was written by <paramref name="oldVersion"/>; return the state for this version.</summary>
    protected virtual TState OnLoad(AgentContext context, JsonElement? oldState, string oldVersion) =>
        oldState is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } old ? old.Deserialize<TState>(StateJson) ?? new TState() : new TState();

    private AgentStep Step(TState state, AgentContext context) => new()
    {
        StateChanged = true,
        State = JsonSerializer.SerializeToElement(state, StateJson),
        Effects = context.Effects,
    };
}

/// <summary>What an agent handler knows about the event and how it asks for effects.</summary>
public sealed class AgentContext(AgentEvent e)
{
    private readonly List<AgentEffect> _effects = [];

    /// <summary>This app's name.</summary>
    public string App => e.App;

    /// <summary>The app that sent the poke, if an app did.</summary>
    public string? Source => e.Source;

    /// <summary>The subscriber of a watch or leave.</summary>
    public string? Subscriber => e.Subscriber;

    /// <summary>The id of the message being handled.</summary>
    public string? MessageId => e.MessageId;

    internal IReadOnlyList<AgentEffect> Effects => _effects;

    public void Fact(string path, object? data) => _effects.Add(new AgentEffect.Fact(path, ToJson(data)));

    public void Give(object? data) => _effects.Add(new AgentEffect.Give(ToJson(data)));

    public void Kick(string path, string? subscriber = null) => _effects.Add(new AgentEffect.Kick(path, subscriber));

    public void Poke(string app, string mark, object? data, string wire) => _effects.Add(new AgentEffect.Poke(app, mark, ToJson(data), wire));

    public void Watch(string app, string path, string wire) => _effects.Add(new AgentEffect.Watch(app, path, wire));

    public void Leave(string app, string path, string wire) => _effects.Add(new AgentEffect.Leave(app, path, wire));

    public void CreateChild(string name, string agent, object? init = null) =>
        _effects.Add(new AgentEffect.CreateChild(name, agent, init is null ? null : ToJson(init)));

    public void KillChild(string name) => _effects.Add(new AgentEffect.KillChild(name));

    private static JsonElement ToJson(object? data) => data is JsonElement element ? element : JsonSerializer.SerializeToElement(data, JsonDefaults.Options);
}
