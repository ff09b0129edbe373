using System.Buffers;
using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Core.Grains;
using Trellis.Core.Messaging;

namespace Trellis.Core.Apps;

/// <summary>The grain of an app (<c>app/&lt;path&gt;</c>): runs its agent one event at a time, keeps its state,
/// subscribers and children durable, acks or nacks, and carries out the agent's effects once the state is stored.</summary>
/// <remarks>
/// Methods (data in JSON): <c>create {agent, init}</c>, <c>poke {mark, data, source?, wire?}</c>,
/// <c>watch {path, subscriber, app?, wire?}</c>, <c>leave {path, subscriber}</c>, <c>peek {path}</c>,
/// <c>sign {kind, wire, app, path?, data?, error?}</c>, <c>kill</c>, <c>wipe</c>, <c>info</c>, and the internal
/// <c>adopt</c>/<c>disown {child}</c>. Every message that changes the app is remembered by id, so a redelivered or
/// retried one is answered as before without running the agent again.
/// </remarks>
public sealed class AppGrain(AppAgents agents) : Grain<AppRecord>
{
    private IAgent? _agent;

    private string App => Id.Key;

    public override async ValueTask<Message> ReceiveAsync(GrainCall call, CancellationToken cancellationToken)
    {
        var data = call.Data.IsNull ? default : call.Data.ToJsonElement();
        if (data.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Object))
        {
            return Message.Error(Codes.BadRequest, $"the data of '{call.Method}' must be a JSON object");
        }

        if (call.Method == "create")
        {
            return await CreateAsync(call, data, cancellationToken);
        }

        if (State.Agent is null)
        {
            // A parent's kill of a child that is already gone is done; a client's kill of an unknown app is a 404.
            var done = call.Method is "disown" or "sign" || (call.Method == "kill" && Bool(data, "by_parent"));
            return done ? Ok(new { ack = true }) : Message.Error(Codes.NotFound, $"app {App} does not exist");
        }

        if (call.Method is not ("peek" or "info") && State.Recent.Contains(call.MessageId))
        {
            return Ok(new { ack = true, duplicate = true });
        }

        return call.Method switch
        {
            "poke" => await PokeAsync(call, data, cancellationToken),
            "watch" => await WatchAsync(call, data, cancellationToken),
            "leave" => await LeaveAsync(call, data, cancellationToken),
            "peek" => await PeekAsync(data, cancellationToken),
            "sign" => await SignAsync(call, data, cancellationToken),
            "kill" => await KillAsync(call, data, cancellationToken),
            "wipe" => await WipeAsync(call, cancellationToken),
            "adopt" or "disown" => await ChildrenAsync(call, data, cancellationToken),
            "info" => Info(),
            _ => Message.Error(Codes.BadRequest, $"apps take create, poke, watch, leave, peek, kill, wipe and info; not '{call.Method}'"),
        };
    }

    // ---------------------------------------------------------------- events

    private async Task<Message> CreateAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var agentName = AppAgents.ValidateName(Text(data, "agent", required: true));
        if (State.Agent is { } existing)
        {
            return existing == agentName
                ? Ok(new { created = false, app = App, agent = existing })
                : Message.Error(Codes.BadRequest, $"app {App} exists already and runs the agent '{existing}'");
        }

        _agent = agents.Resolve(agentName, Bus);
        var init = data.TryGetProperty("init", out var i) ? i.Clone() : (JsonElement?)null;
        string version;
        AgentStep step;
        try
        {
            version = await _agent.VersionAsync(cancellationToken);
            step = await _agent.StepAsync(new AgentEvent(AgentEventKind.Init, App, null) { Data = init, MessageId = call.MessageId }, cancellationToken);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            _agent = null;
            // No local agent and no node serving it: for a new app that is an unknown agent, not an outage. A node that
            // serves it but cannot be reached is an outage (503).
            return ex is AgentUnavailableException { NoNode: true }
                ? new Message(JsonPayload.From(new { nack = $"unknown agent '{agentName}': it is not built in and no node serves {RemoteAgent.Topic(agentName)}" }), Codes.NotFound)
                : Nack(ex);
        }

        State.Agent = agentName;
        State.Version = version;
        ApplyState(step);
        var pending = PrepareEffects(step, call.MessageId);
        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);
        if (AppPath.Parent(App) is { } parent && !Bool(data, "by_parent"))
        {
            await Grains.SendAsync(AppPath.Grain(parent), "adopt", JsonPayload.From(new { child = App }), $"{call.MessageId}/adopt", cancellationToken);
        }

        await RunEffectsAsync(pending, call.MessageId, newSubscriber: null, cancellationToken);
        return Ok(new { created = true, app = App, agent = agentName, version });
    }

    private async Task<Message> PokeAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var mark = Text(data, "mark", required: true)!;
        var source = Text(data, "source");
        var wire = Text(data, "wire");
        var e = new AgentEvent(AgentEventKind.Poke, App, State.State)
        {
            Mark = mark,
            Data = data.TryGetProperty("data", out var d) ? d.Clone() : null,
            MessageId = call.MessageId,
            Source = source,
        };

        AgentStep step;
        try
        {
            step = await StepAsync(e, cancellationToken);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            if (source is not null && wire is not null)
            {
                await AnswerAppAsync(source, "poke-ack", wire, null, null, ex.Message, $"{call.MessageId}/ack", cancellationToken);
            }

            return Nack(ex);
        }

        ApplyState(step);
        var pending = PrepareEffects(step, call.MessageId);
        State.Pokes++;
        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);
        if (source is not null && wire is not null)
        {
            await AnswerAppAsync(source, "poke-ack", wire, null, null, null, $"{call.MessageId}/ack", cancellationToken);
        }

        await RunEffectsAsync(pending, call.MessageId, newSubscriber: null, cancellationToken);
        return Ok(new { ack = true });
    }

    private async Task<Message> WatchAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var path = AppPath.ValidateSubscriptionPath(Text(data, "path", required: true));
        var watcherApp = Text(data, "app");
        var wire = Text(data, "wire");
        var subscriber = watcherApp is null
            ? ValidateSubscriberId(Text(data, "subscriber", required: true)!)
            : $"{AppPath.Validate(watcherApp, "app")}#{wire ?? throw TrellisException.Invalid("an app's watch needs a 'wire'")}";

        AgentStep step;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Watch, App, State.State) { Path = path, Subscriber = subscriber, MessageId = call.MessageId }, cancellationToken);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            // A refused watch never starts the subscription.
            if (watcherApp is not null)
            {
                await AnswerAppAsync(watcherApp, "watch-ack", wire!, path, null, ex.Message, $"{call.MessageId}/ack", cancellationToken);
            }

            return Nack(ex);
        }

        ApplyState(step);
        State.Subscribers.RemoveAll(s => s.Id == subscriber && s.Path == path);
        var added = new AppSubscriber { Id = subscriber, Path = path, App = watcherApp, Wire = wire };
        State.Subscribers.Add(added);
        var pending = PrepareEffects(step, call.MessageId);
        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);

        var initial = step.Effects.OfType<AgentEffect.Give>().Select(g => g.Data).ToArray();
        if (watcherApp is not null)
        {
            await AnswerAppAsync(watcherApp, "watch-ack", wire!, path, null, null, $"{call.MessageId}/ack", cancellationToken);
        }

        await RunEffectsAsync(pending, call.MessageId, added, cancellationToken);
        return Ok(new { ack = true, path, facts = initial });
    }

    private async Task<Message> LeaveAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var path = AppPath.ValidateSubscriptionPath(Text(data, "path", required: true));
        var subscriber = Text(data, "subscriber", required: true)!;
        if (State.Subscribers.RemoveAll(s => s.Id == subscriber && s.Path == path) == 0)
        {
            return Ok(new { ack = true, subscribed = false });
        }

        var step = AgentStep.Unchanged;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Leave, App, State.State) { Path = path, Subscriber = subscriber, MessageId = call.MessageId }, cancellationToken);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            // Leaving cannot be refused; the agent's error only means it had nothing to do.
        }

        ApplyState(step);
        var pending = PrepareEffects(step, call.MessageId);
        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);
        await RunEffectsAsync(pending, call.MessageId, newSubscriber: null, cancellationToken);
        return Ok(new { ack = true, subscribed = true });
    }

    private async Task<Message> PeekAsync(JsonElement data, CancellationToken cancellationToken)
    {
        var path = AppPath.ValidateSubscriptionPath(Text(data, "path") ?? "/");
        AgentStep step;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Peek, App, State.State) { Path = path }, cancellationToken);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            return Nack(ex);
        }

        return step.Peek is { } answer
            ? Message.Ok(JsonPayload.From(answer))
            : Message.Error(Codes.NotFound, $"app {App} has nothing at '{path}'");
    }

    private async Task<Message> SignAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var sign = new AgentSign(
            Text(data, "kind", required: true)!, Text(data, "wire", required: true)!, Text(data, "app", required: true)!,
            Text(data, "path"), data.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Null ? d.Clone() : null, Text(data, "error"));
        AgentStep step;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Sign, App, State.State) { Sign = sign, MessageId = call.MessageId }, cancellationToken);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            // Nobody waits for the answer to a sign; remember it so a redelivery does not run it again.
            State.Remember(call.MessageId);
            await WriteStateAsync(cancellationToken);
            return Nack(ex);
        }

        ApplyState(step);
        var pending = PrepareEffects(step, call.MessageId);
        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);
        await RunEffectsAsync(pending, call.MessageId, newSubscriber: null, cancellationToken);
        return Ok(new { ack = true });
    }

    private async Task<Message> KillAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var children = State.Children.ToArray();
        var subscribers = State.Subscribers.ToArray();
        for (var i = 0; i < children.Length; i++)
        {
            await Grains.SendAsync(AppPath.Grain(children[i]), "kill", JsonPayload.From(new { by_parent = true }), $"{call.MessageId}/kill/{i}", cancellationToken);
        }

        await KickAllAsync(subscribers, call.MessageId, cancellationToken);
        if (AppPath.Parent(App) is { } parent && !Bool(data, "by_parent"))
        {
            await Grains.SendAsync(AppPath.Grain(parent), "disown", JsonPayload.From(new { child = App }), $"{call.MessageId}/disown", cancellationToken);
        }

        await ClearStateAsync(cancellationToken);
        DeactivateOnIdle();
        return Ok(new { ack = true, killed = App, children });
    }

    private async Task<Message> WipeAsync(GrainCall call, CancellationToken cancellationToken)
    {
        var subscribers = State.Subscribers.ToArray();
        State.Subscribers.Clear();
        State.State = null;
        var step = await StepAsync(new AgentEvent(AgentEventKind.Init, App, null) { MessageId = call.MessageId }, cancellationToken);
        ApplyState(step);
        var pending = PrepareEffects(step, call.MessageId);
        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);
        await KickAllAsync(subscribers, call.MessageId, cancellationToken);
        await RunEffectsAsync(pending, call.MessageId, newSubscriber: null, cancellationToken);
        return Ok(new { ack = true, wiped = App });
    }

    private async Task<Message> ChildrenAsync(GrainCall call, JsonElement data, CancellationToken cancellationToken)
    {
        var child = AppPath.Validate(Text(data, "child", required: true), "child");
        if (AppPath.Parent(child) != App)
        {
            return Message.Error(Codes.BadRequest, $"{child} is not a child of {App}");
        }

        State.Children.Remove(child);
        if (call.Method == "adopt")
        {
            State.Children.Add(child);
        }

        State.Remember(call.MessageId);
        await WriteStateAsync(cancellationToken);
        return Ok(new { ack = true });
    }

    private Message Info() => Ok(new
    {
        app = App,
        agent = State.Agent,
        version = State.Version,
        pokes = State.Pokes,
        children = State.Children,
        subscribers = State.Subscribers.Select(s => new { id = s.Id, path = s.Path, app = s.App, wire = s.Wire }),
    });

    // ---------------------------------------------------------------- the agent

    /// <summary>Runs an event, first running the upgrade hook once per activation if the agent's version changed.</summary>
    private async Task<AgentStep> StepAsync(AgentEvent e, CancellationToken cancellationToken)
    {
        if (_agent is null)
        {
            var agent = agents.Resolve(State.Agent!, Bus);
            var version = await agent.VersionAsync(cancellationToken);
            if (version != State.Version)
            {
                var loaded = await agent.StepAsync(new AgentEvent(AgentEventKind.Load, App, State.State) { OldVersion = State.Version }, cancellationToken);
                ApplyState(loaded);
                State.Version = version;
                await WriteStateAsync(cancellationToken);
            }

            _agent = agent;
        }

        return await _agent.StepAsync(e with { State = State.State }, cancellationToken);
    }

    private void ApplyState(AgentStep step)
    {
        if (step.StateChanged)
        {
            State.State = step.State?.Clone();
        }
    }

    // ---------------------------------------------------------------- effects

    /// <summary>Applies the effects that change this app's record (kicks, children) before the write; returns the rest to run after it.</summary>
    private List<(AgentEffect Effect, AppSubscriber[]? Kicked)> PrepareEffects(AgentStep step, string messageId)
    {
        var pending = new List<(AgentEffect, AppSubscriber[]?)>(step.Effects.Count);
        foreach (var effect in step.Effects)
        {
            switch (effect)
            {
                case AgentEffect.Kick kick:
                    var kicked = State.Subscribers.Where(s => s.Path == kick.Path && (kick.Subscriber is null || s.Id == kick.Subscriber)).ToArray();
                    State.Subscribers.RemoveAll(s => kicked.Contains(s));
                    pending.Add((effect, kicked));
                    break;
                case AgentEffect.CreateChild create:
                    AppPath.ValidateSegment(create.Name, "child", create.Name);
                    AppAgents.ValidateName(create.Agent);
                    var child = $"{App}/{create.Name}";
                    if (!State.Children.Contains(child))
                    {
                        State.Children.Add(child);
                    }

                    pending.Add((effect, null));
                    break;
                case AgentEffect.KillChild kill:
                    State.Children.Remove($"{App}/{kill.Name}");
                    pending.Add((effect, null));
                    break;
                case AgentEffect.Fact fact:
                    AppPath.ValidateSubscriptionPath(fact.Path);
                    pending.Add((effect, null));
                    break;
                default:
                    pending.Add((effect, null));
                    break;
            }
        }

        return pending;
    }

    private async Task RunEffectsAsync(
        List<(AgentEffect Effect, AppSubscriber[]? Kicked)> pending, string messageId, AppSubscriber? newSubscriber, CancellationToken cancellationToken)
    {
        for (var i = 0; i < pending.Count; i++)
        {
            var id = EffectId(messageId, i);
            switch (pending[i].Effect)
            {
                case AgentEffect.Fact fact:
                    foreach (var subscriber in State.Subscribers.Where(s => s.Path == fact.Path).ToArray())
                    {
                        await DeliverAsync(subscriber, "fact", fact.Data, $"{id}/{subscriber.Id}", cancellationToken);
                    }

                    break;
                case AgentEffect.Give give when newSubscriber?.App is not null:
                    // A client gets its initial facts in the watch reply; an app gets them as facts after its watch-ack.
                    await DeliverAsync(newSubscriber, "fact", give.Data, id, cancellationToken);
                    break;
                case AgentEffect.Kick:
                    await KickAllAsync(pending[i].Kicked ?? [], id, cancellationToken);
                    break;
                case AgentEffect.Poke poke:
                    await Grains.SendAsync(AppPath.Grain(poke.App), "poke",
                        JsonPayload.From(new { mark = poke.Mark, data = poke.Data, source = App, wire = poke.Wire }), id, cancellationToken);
                    break;
                case AgentEffect.Watch watch:
                    await Grains.SendAsync(AppPath.Grain(watch.App), "watch",
                        JsonPayload.From(new { path = watch.Path, app = App, wire = watch.Wire }), id, cancellationToken);
                    break;
                case AgentEffect.Leave leave:
                    await Grains.SendAsync(AppPath.Grain(leave.App), "leave",
                        JsonPayload.From(new { path = leave.Path, subscriber = $"{App}#{leave.Wire}" }), id, cancellationToken);
                    break;
                case AgentEffect.CreateChild create:
                    await Grains.SendAsync(AppPath.Grain($"{App}/{create.Name}"), "create",
                        JsonPayload.From(new { agent = create.Agent, init = create.Init, by_parent = true }), id, cancellationToken);
                    break;
                case AgentEffect.KillChild kill:
                    await Grains.SendAsync(AppPath.Grain($"{App}/{kill.Name}"), "kill", JsonPayload.From(new { by_parent = true }), id, cancellationToken);
                    break;
            }
        }
    }

    private async Task KickAllAsync(AppSubscriber[] subscribers, string messageId, CancellationToken cancellationToken)
    {
        foreach (var subscriber in subscribers)
        {
            await DeliverAsync(subscriber, "kick", null, $"{messageId}/kick/{subscriber.Id}", cancellationToken);
        }
    }

    private async Task DeliverAsync(AppSubscriber subscriber, string kind, JsonElement? data, string messageId, CancellationToken cancellationToken)
    {
        if (subscriber.App is { } app)
        {
            await AnswerAppAsync(app, kind, subscriber.Wire ?? "", subscriber.Path, data, null, messageId, cancellationToken);
            return;
        }

        await Bus.SignalAsync(AppSubscriber.ClientTopic(subscriber.Id), WriteClientEvent(kind, subscriber.Path, data), cancellationToken);
    }

    private Task AnswerAppAsync(string app, string kind, string wire, string? path, JsonElement? data, string? error, string messageId, CancellationToken cancellationToken) =>
        Grains.SendAsync(AppPath.Grain(app), "sign", JsonPayload.From(new { kind, wire, app = App, path, data, error }), messageId, cancellationToken).AsTask();

    private JsonPayload WriteClientEvent(string kind, string path, JsonElement? data)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("kind", kind);
            w.WriteString("app", App);
            w.WriteString("path", path);
            if (data is { } d)
            {
                w.WritePropertyName("data");
                d.WriteTo(w);
            }

            w.WriteEndObject();
        }

        return JsonPayload.FromTrustedUtf8(buffer.WrittenMemory);
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Ids of messages caused by an effect: derived from the causing message, so a redelivered event sends the
    /// same ids again and the receivers absorb them.</summary>
    private static string EffectId(string messageId, int index)
    {
        var id = $"{messageId}/{index}";
        return id.Length <= 120 ? id : Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id)))[..40];
    }

    private static bool IsNack(Exception e) =>
        e is not (OperationCanceledException or Persistence.StaleEpochException or Persistence.InconsistentStateException or Trellis.Core.Grains.Internal.ShardLostException);

    private static Message Nack(Exception e)
    {
        var code = e switch
        {
            // A refusal keeps the agent's 4xx; an agent that did not answer in time or failed keeps that meaning (the
            // gateway answers 504 or 502), so it is never mistaken for a refusal of the poke itself.
            AgentNackException nack => nack.Code is >= 400 and < 500 or Codes.HandlerTimeout ? nack.Code : Codes.HandlerError,
            TrellisException { Kind: ErrorKind.Unavailable } => Codes.Unavailable,
            _ => Codes.BadRequest,
        };
        return new Message(JsonPayload.From(new { nack = e.Message }), code);
    }

    private static Message Ok<T>(T value) => Message.Ok(JsonPayload.From(value));

    private static string ValidateSubscriberId(string id)
    {
        if (id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw TrellisException.Invalid("subscriber must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'");
        }

        return id;
    }

    private static string? Text(JsonElement data, string name, bool required = false)
    {
        if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
        {
            return value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : throw TrellisException.Invalid($"'{name}' must be a string");
        }

        return required ? throw TrellisException.Invalid($"'{name}' is required") : null;
    }

    private static bool Bool(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;
}
