using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Grains.Apps;

/// <summary>The grain of an app: runs its agent one event at a time, keeps its state, subscribers and children durable,
/// acks or nacks, and carries out the agent's effects once the step is stored.</summary>
/// <remarks>
/// Effects for other apps (answers, pokes, watches, facts to watching apps, children) are written into the record's
/// outbox together with the step, then delivered in order by a loop of this activation that is not a turn: an app never
/// waits on another app inside a turn, so two apps poking each other cannot deadlock, and a silo dying after the write
/// only delays them (the next activation delivers them; receivers absorb repeats by message id). Facts and kicks for
/// clients are numbered with the step and published on the app's Orleans stream right after the write; a watcher that
/// misses one (a silo died between the write and the publish) sees the gap and is kicked.
/// </remarks>
public sealed partial class AppGrain(
    [PersistentState("app")] IPersistentState<AppRecord> record, AppRuntime runtime, ILogger<AppGrain> logger) : Grain, IAppGrain
{
    private IAgent? _agent;
    private JsonElement? _state;
    private bool _stateRead;
    private Task _lastWrite = Task.CompletedTask;
    private Task? _pump;

    private string App => this.GetPrimaryKeyString();

    private AppRecord State => record.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        runtime.Activations?.OnActivation(App, RuntimeIdentity, active: true);
        Pump();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        runtime.Activations?.OnActivation(App, RuntimeIdentity, active: false);
        return Task.CompletedTask;
    }

    public async Task<AppAnswer> Call(AppCall call)
    {
        try
        {
            return AppAnswer.From(await ReceiveAsync(call));
        }
        catch (TrellisException e)
        {
            // A refusal found half way (an effect the agent asked for is malformed) may have changed the record in memory:
            // start the next call from the stored one.
            DeactivateOnIdle();
            return AppAnswer.From(Message.Error(ErrorTable.HttpStatus(e.Kind), e.Message));
        }
        catch (Exception e)
        {
            // The record in memory may be ahead of the stored one (a failed or refused write): never serve from it again.
            LogCallFailed(logger, App, call.Method, e.GetType().Name, e.Message);
            DeactivateOnIdle();
            throw;
        }
        finally
        {
            // An idle app keeps its state as stored text only; the next event parses it again.
            _state = null;
            _stateRead = false;
        }
    }

    private async Task<Message> ReceiveAsync(AppCall call)
    {
        var data = call.Data is null ? default : ParseData(call);
        if (data.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
        {
            return Message.Error(Codes.BadRequest, $"the data of '{call.Method}' must be a JSON object");
        }

        if (call.Method == "create")
        {
            return await CreateAsync(call, data);
        }

        if (State.Agent is null)
        {
            // A parent's kill of a child that is already gone is done; a client's kill of an unknown app is a 404.
            var done = call.Method is "disown" or "sign" || (call.Method == "kill" && Bool(data, "by_parent"));
            return done ? Ok(new { ack = true }) : Message.Error(Codes.NotFound, $"app {App} does not exist");
        }

        if (call.Method is not ("peek" or "info") && State.Seen(call.MessageId))
        {
            return Ok(new { ack = true, duplicate = true });
        }

        return call.Method switch
        {
            "poke" => await PokeAsync(call, data),
            "watch" => await WatchAsync(call, data),
            "leave" => await LeaveAsync(call, data),
            "peek" => await PeekAsync(data),
            "sign" => await SignAsync(call, data),
            "kill" => await KillAsync(call, data),
            "wipe" => await WipeAsync(call),
            "adopt" or "disown" => await ChildrenAsync(call, data),
            "info" => Info(),
            _ => Message.Error(Codes.BadRequest, $"apps take create, poke, watch, leave, peek, kill, wipe and info; not '{call.Method}'"),
        };
    }

    // Events

    private async Task<Message> CreateAsync(AppCall call, JsonElement data)
    {
        // The grain's key is the name: a caller that skipped AppClient's check must not create an app no URL can address.
        AppPath.Validate(App);
        var agentName = AppAgents.ValidateName(Text(data, "agent", required: true));
        if (State.Agent is { } existing)
        {
            return existing == agentName
                ? Ok(new { created = false, app = App, agent = existing })
                : Message.Error(Codes.BadRequest, $"app {App} exists already and runs the agent '{existing}'");
        }

        var bus = await runtime.BusAsync();
        _agent = runtime.Agents.Resolve(agentName, bus);
        var init = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("init", out var i) ? i.Clone() : (JsonElement?)null;
        string version;
        AgentStep step;
        try
        {
            version = await _agent.VersionAsync(CancellationToken.None);
            step = await _agent.StepAsync(new AgentEvent(AgentEventKind.Init, App, null) { Data = init, MessageId = call.MessageId }, CancellationToken.None);
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
        if (AppPath.Parent(App) is { } parent && !Bool(data, "by_parent"))
        {
            Send(parent, "adopt", new { child = App }, $"{call.MessageId}/adopt");
        }

        var deliveries = Plan(step, call.MessageId, newSubscriber: null);
        State.Remember(call.MessageId);
        await WriteAsync();
        await DeliverAsync(deliveries);
        return Ok(new { created = true, app = App, agent = agentName, version });
    }

    private async Task<Message> PokeAsync(AppCall call, JsonElement data)
    {
        var mark = Text(data, "mark", required: true)!;
        var source = Text(data, "source");
        var wire = Text(data, "wire");
        var e = new AgentEvent(AgentEventKind.Poke, App, null)
        {
            Mark = mark,
            Data = data.TryGetProperty("data", out var d) ? d.Clone() : null,
            MessageId = call.MessageId,
            Source = source,
        };

        AgentStep step;
        try
        {
            step = await StepAsync(e);
        }
        catch (Exception ex) when (IsNack(ex))
        {
            if (source is not null && wire is not null)
            {
                // The nack is an answer the poking app is owed: it is delivered like any other effect.
                AnswerApp(source, "poke-ack", wire, null, null, ex.Message, $"{call.MessageId}/ack");
                State.Remember(call.MessageId);
                await WriteAsync();
                Pump();
            }

            AppMetrics.Poked(State.Agent, acked: false);
            return Nack(ex);
        }

        ApplyState(step);
        if (source is not null && wire is not null)
        {
            AnswerApp(source, "poke-ack", wire, null, null, null, $"{call.MessageId}/ack");
        }

        var deliveries = Plan(step, call.MessageId, newSubscriber: null);
        State.Pokes++;
        State.Remember(call.MessageId);
        await WriteAsync();
        await DeliverAsync(deliveries);
        AppMetrics.Poked(State.Agent, acked: true);
        return Ok(new { ack = true });
    }

    private async Task<Message> WatchAsync(AppCall call, JsonElement data)
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
            step = await StepAsync(new AgentEvent(AgentEventKind.Watch, App, null) { Path = path, Subscriber = subscriber, MessageId = call.MessageId });
        }
        catch (Exception ex) when (IsNack(ex))
        {
            // A refused watch never starts the subscription.
            if (watcherApp is not null)
            {
                AnswerApp(watcherApp, "watch-ack", wire!, path, null, ex.Message, $"{call.MessageId}/ack");
                State.Remember(call.MessageId);
                await WriteAsync();
                Pump();
            }

            return Nack(ex);
        }

        ApplyState(step);
        State.Subscribers.RemoveAll(s => s.Id == subscriber && s.Path == path);
        var added = new AppSubscriber { Id = subscriber, Path = path, App = watcherApp, Wire = wire };
        State.Subscribers.Add(added);
        if (watcherApp is not null)
        {
            AnswerApp(watcherApp, "watch-ack", wire!, path, null, null, $"{call.MessageId}/ack");
        }

        // The watcher takes the stream's events after this number: the ones this step publishes, and later ones.
        var seq = State.StreamSeq;
        var deliveries = Plan(step, call.MessageId, added);
        State.Remember(call.MessageId);
        await WriteAsync();

        var initial = step.Effects.OfType<AgentEffect.Give>().Select(g => g.Data).ToArray();
        await DeliverAsync(deliveries);
        return Ok(new { ack = true, path, facts = initial, seq, agent = State.Agent });
    }

    private async Task<Message> LeaveAsync(AppCall call, JsonElement data)
    {
        var path = AppPath.ValidateSubscriptionPath(Text(data, "path", required: true));
        var subscriber = Text(data, "subscriber", required: true)!;
        if (!State.Subscribers.Exists(s => s.Id == subscriber && s.Path == path))
        {
            return Ok(new { ack = true, subscribed = false });
        }

        var step = AgentStep.Unchanged;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Leave, App, null) { Path = path, Subscriber = subscriber, MessageId = call.MessageId });
        }
        catch (Exception ex) when (IsNack(ex))
        {
            // Leaving cannot be refused; the agent's error only means it had nothing to do.
        }

        State.Subscribers.RemoveAll(s => s.Id == subscriber && s.Path == path);
        ApplyState(step);
        var deliveries = Plan(step, call.MessageId, newSubscriber: null);
        State.Remember(call.MessageId);
        await WriteAsync();
        await DeliverAsync(deliveries);
        return Ok(new { ack = true, subscribed = true });
    }

    private async Task<Message> PeekAsync(JsonElement data)
    {
        var path = AppPath.ValidateSubscriptionPath(Text(data, "path") ?? "/");
        AgentStep step;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Peek, App, null) { Path = path });
        }
        catch (Exception ex) when (IsNack(ex))
        {
            return Nack(ex);
        }

        return step.Peek is { } answer
            ? Message.Ok(JsonPayload.From(answer))
            : Message.Error(Codes.NotFound, $"app {App} has nothing at '{path}'");
    }

    private async Task<Message> SignAsync(AppCall call, JsonElement data)
    {
        var sign = new AgentSign(
            Text(data, "kind", required: true)!, Text(data, "wire", required: true)!, Text(data, "app", required: true)!,
            Text(data, "path"), data.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Null ? d.Clone() : null, Text(data, "error"));
        AgentStep step;
        try
        {
            step = await StepAsync(new AgentEvent(AgentEventKind.Sign, App, null) { Sign = sign, MessageId = call.MessageId });
        }
        catch (Exception ex) when (IsNack(ex))
        {
            // Nobody waits for the answer to a sign; remember it so a redelivery does not run it again.
            State.Remember(call.MessageId);
            await WriteAsync();
            return Nack(ex);
        }

        ApplyState(step);
        var deliveries = Plan(step, call.MessageId, newSubscriber: null);
        State.Remember(call.MessageId);
        await WriteAsync();
        await DeliverAsync(deliveries);
        return Ok(new { ack = true });
    }

    private async Task<Message> KillAsync(AppCall call, JsonElement data)
    {
        var children = State.Children.ToArray();
        var deliveries = new List<AppStreamEvent>();
        for (var i = 0; i < children.Length; i++)
        {
            Send(children[i], "kill", new { by_parent = true }, $"{call.MessageId}/kill/{i}");
        }

        Kick(State.Subscribers.ToArray(), call.MessageId, deliveries);
        if (AppPath.Parent(App) is { } parent && !Bool(data, "by_parent"))
        {
            Send(parent, "disown", new { child = App }, $"{call.MessageId}/disown");
        }

        // The app is gone from here on; its record stays only as long as it owes other apps these events.
        var outbox = State.Outbox;
        record.State = new AppRecord { Outbox = outbox };
        _agent = null;
        _state = null;
        _stateRead = true;
        if (outbox.Count == 0)
        {
            await ClearAsync();
        }
        else
        {
            await WriteAsync();
        }

        await DeliverAsync(deliveries);
        return Ok(new { ack = true, killed = App, children });
    }

    private async Task<Message> WipeAsync(AppCall call)
    {
        var deliveries = new List<AppStreamEvent>();
        Kick(State.Subscribers.ToArray(), call.MessageId, deliveries);
        State.Subscribers.Clear();
        SetState(null);
        var step = await StepAsync(new AgentEvent(AgentEventKind.Init, App, null) { MessageId = call.MessageId });
        ApplyState(step);
        deliveries.AddRange(Plan(step, call.MessageId, newSubscriber: null));
        State.Remember(call.MessageId);
        await WriteAsync();
        await DeliverAsync(deliveries);
        return Ok(new { ack = true, wiped = App });
    }

    private async Task<Message> ChildrenAsync(AppCall call, JsonElement data)
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
        await WriteAsync();
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

    // The agent

    /// <summary>Runs an event with the current state, first running the upgrade hook once per activation if the agent's
    /// version changed.</summary>
    private async Task<AgentStep> StepAsync(AgentEvent e)
    {
        if (_agent is null)
        {
            var agent = runtime.Agents.Resolve(State.Agent!, await runtime.BusAsync());
            var version = await agent.VersionAsync(CancellationToken.None);
            if (version != State.Version)
            {
                var loaded = await agent.StepAsync(new AgentEvent(AgentEventKind.Load, App, CurrentState()) { OldVersion = State.Version }, CancellationToken.None);
                ApplyState(loaded);
                State.Version = version;
                await WriteAsync();
            }

            _agent = agent;
        }

        return await _agent.StepAsync(e with { State = CurrentState() }, CancellationToken.None);
    }

    private JsonElement? CurrentState()
    {
        if (!_stateRead)
        {
            _state = State.State is { } json ? JsonDocument.Parse(json).RootElement.Clone() : null;
            _stateRead = true;
        }

        return _state;
    }

    private void ApplyState(AgentStep step)
    {
        if (step.StateChanged)
        {
            SetState(step.State?.Clone());
        }
    }

    private void SetState(JsonElement? state)
    {
        _state = state;
        _stateRead = true;
        State.State = state is { ValueKind: not JsonValueKind.Undefined } s ? s.GetRawText() : null;
    }

    // Effects

    /// <summary>Applies a step's effects to the record before it is written: changes to subscribers and children, and
    /// events for other apps into the outbox, in the order the agent asked for them. Returns the facts and kicks for
    /// client subscribers, which go out once the write is done.</summary>
    private List<AppStreamEvent> Plan(AgentStep step, string messageId, AppSubscriber? newSubscriber)
    {
        var deliveries = new List<AppStreamEvent>();
        for (var i = 0; i < step.Effects.Count; i++)
        {
            var id = EffectId(messageId, i);
            switch (step.Effects[i])
            {
                case AgentEffect.Fact fact:
                    AppPath.ValidateSubscriptionPath(fact.Path);
                    var clients = false;
                    foreach (var subscriber in State.Subscribers)
                    {
                        if (subscriber.Path != fact.Path)
                        {
                            continue;
                        }

                        if (subscriber.App is null)
                        {
                            clients = true;
                        }
                        else
                        {
                            Deliver(subscriber, "fact", fact.Data, $"{id}/{subscriber.Id}", deliveries);
                        }
                    }

                    // One event for all the client watchers of the path: the stream fans it out.
                    if (clients)
                    {
                        deliveries.Add(new AppStreamEvent(++State.StreamSeq, "fact", fact.Path, null, fact.Data.GetRawText()));
                    }

                    break;
                case AgentEffect.Give give when newSubscriber?.App is not null:
                    // A client gets its initial facts in the watch reply; an app gets them as facts after its watch-ack.
                    Deliver(newSubscriber, "fact", give.Data, id, deliveries);
                    break;
                case AgentEffect.Kick kick:
                    var kicked = State.Subscribers.Where(s => s.Path == kick.Path && (kick.Subscriber is null || s.Id == kick.Subscriber)).ToArray();
                    State.Subscribers.RemoveAll(s => kicked.Contains(s));
                    Kick(kicked, id, deliveries);
                    break;
                case AgentEffect.Poke poke:
                    Send(poke.App, "poke", new { mark = poke.Mark, data = poke.Data, source = App, wire = poke.Wire }, id);
                    break;
                case AgentEffect.Watch watch:
                    Send(watch.App, "watch", new { path = watch.Path, app = App, wire = watch.Wire }, id);
                    break;
                case AgentEffect.Leave leave:
                    Send(leave.App, "leave", new { path = leave.Path, subscriber = $"{App}#{leave.Wire}" }, id);
                    break;
                case AgentEffect.CreateChild create:
                    AppPath.ValidateSegment(create.Name, "child", create.Name);
                    AppAgents.ValidateName(create.Agent);
                    var child = $"{App}/{create.Name}";
                    if (!State.Children.Contains(child))
                    {
                        State.Children.Add(child);
                    }

                    Send(child, "create", new { agent = create.Agent, init = create.Init, by_parent = true }, id);
                    break;
                case AgentEffect.KillChild kill:
                    State.Children.Remove($"{App}/{kill.Name}");
                    Send($"{App}/{kill.Name}", "kill", new { by_parent = true }, id);
                    break;
            }
        }

        return deliveries;
    }

    private void Kick(AppSubscriber[] subscribers, string messageId, List<AppStreamEvent> deliveries)
    {
        foreach (var subscriber in subscribers)
        {
            Deliver(subscriber, "kick", null, $"{messageId}/kick/{subscriber.Id}", deliveries);
        }
    }

    private void Deliver(AppSubscriber subscriber, string kind, JsonElement? data, string messageId, List<AppStreamEvent> deliveries)
    {
        if (subscriber.App is { } app)
        {
            AnswerApp(app, kind, subscriber.Wire ?? "", subscriber.Path, data, null, messageId);
            return;
        }

        deliveries.Add(new AppStreamEvent(++State.StreamSeq, kind, subscriber.Path, subscriber.Id, data?.GetRawText()));
    }

    private void AnswerApp(string app, string kind, string wire, string? path, JsonElement? data, string? error, string messageId) =>
        Send(app, "sign", new { kind, wire, app = App, path, data, error }, messageId);

    /// <summary>Puts an event for another app into the outbox; it is delivered after the next write.</summary>
    private void Send<T>(string app, string method, T data, string messageId) =>
        State.Outbox.Add(new AppOutgoing { Target = app, Method = method, Data = JsonSerializer.Serialize(data, JsonDefaults.Options), MessageId = messageId });

    private async Task DeliverAsync(List<AppStreamEvent> deliveries)
    {
        if (deliveries.Count > 0)
        {
            var stream = this.GetStreamProvider(AppStreams.Provider).GetStream<AppStreamEvent>(AppStreams.Id(App));
            try
            {
                foreach (var delivery in deliveries)
                {
                    await stream.OnNextAsync(delivery);
                }
            }
            catch (Exception e) when (e is not InconsistentStateException)
            {
                // The step is stored and acknowledged all the same: watchers see the missing numbers and are kicked.
                LogPublishFailed(logger, App, e.Message);
            }
        }

        Pump();
    }

    /// <summary>Starts delivering the outbox unless a delivery loop already runs.</summary>
    private void Pump()
    {
        if (State.Outbox.Count > 0 && _pump is not { IsCompleted: false })
        {
            _pump = PumpAsync();
        }
    }

    private async Task PumpAsync()
    {
        var delay = TimeSpan.FromMilliseconds(50);
        while (State.Outbox.Count > 0)
        {
            var next = State.Outbox[0];
            AppAnswer answer;
            try
            {
                answer = await GrainFactory.GetGrain<IAppGrain>(next.Target).Call(new AppCall(next.Method, next.Data, next.MessageId));
            }
            catch (Exception e)
            {
                // The receiver's silo is away or the call timed out; it absorbs a repeat, so try again until it answers.
                LogDeliveryFailed(logger, App, next.Method, next.Target, e.Message);
                await Task.Delay(delay);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                continue;
            }

            delay = TimeSpan.FromMilliseconds(50);
            State.Outbox.Remove(next);
            if (answer.Code == Codes.NotFound && next.Method is "poke" or "watch" && State.Agent is not null)
            {
                // The target never ran its agent, so it owes no answer; this app's own agent still gets its nack.
                NackUndelivered(next);
            }

            if (State.Outbox.Count == 0)
            {
                if (State.Agent is null)
                {
                    await ClearAsync();
                    DeactivateOnIdle();
                }
                else
                {
                    await WriteAsync();
                }
            }
        }
    }

    private void NackUndelivered(AppOutgoing undelivered)
    {
        using var sent = JsonDocument.Parse(undelivered.Data ?? "{}");
        var wire = sent.RootElement.TryGetProperty("wire", out var w) && w.ValueKind == JsonValueKind.String ? w.GetString()! : "";
        var path = sent.RootElement.TryGetProperty("path", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        var kind = undelivered.Method == "poke" ? "poke-ack" : "watch-ack";
        Send(App, "sign", new { kind, wire, app = undelivered.Target, path, error = $"app {undelivered.Target} does not exist" }, $"{undelivered.MessageId}/nack");
    }

    private Task WriteAsync() => Serialized(static r => r.WriteStateAsync());

    private Task ClearAsync() => Serialized(static r => r.ClearStateAsync());

    /// <summary>Runs one storage operation after the ones before it: the outbox loop writes between turns, and two
    /// writes of one record in flight at once would refuse each other's ETag.</summary>
    private async Task Serialized(Func<IPersistentState<AppRecord>, Task> operation)
    {
        var previous = _lastWrite;
        var done = new TaskCompletionSource();
        _lastWrite = done.Task;
        try
        {
            await previous;
            await operation(record);
        }
        finally
        {
            done.SetResult();
            if (ReferenceEquals(_lastWrite, done.Task))
            {
                _lastWrite = Task.CompletedTask;
            }
        }
    }

    // Helpers

    /// <summary>Ids of messages caused by an effect: derived from the causing message, so a redelivered event sends the
    /// same ids again and the receivers absorb them.</summary>
    private static string EffectId(string messageId, int index)
    {
        var id = $"{messageId}/{index}";
        return id.Length <= 120 ? id : Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..40];
    }

    private static JsonElement ParseData(AppCall call)
    {
        try
        {
            using var document = JsonDocument.Parse(call.Data!);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw TrellisException.Invalid($"the data of '{call.Method}' is not valid JSON");
        }
    }

    private static bool IsNack(Exception e) => e is not (OperationCanceledException or InconsistentStateException);

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "App {App}: '{Method}' failed ({Error}: {Reason}); the activation ends")]
    private static partial void LogCallFailed(ILogger logger, string app, string method, string error, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "App {App}: '{Method}' to {Target} not delivered yet: {Reason}")]
    private static partial void LogDeliveryFailed(ILogger logger, string app, string method, string target, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "App {App}: events for its watchers were not published ({Reason}); they will see the gap and be kicked")]
    private static partial void LogPublishFailed(ILogger logger, string app, string reason);
}
