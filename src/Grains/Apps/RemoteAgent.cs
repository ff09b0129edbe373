using System.Buffers;
using System.Text.Json;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Grains.Apps;

/// <summary>An agent implemented by a node in any language: each event is a request to the service
/// <c>trellis.agents.&lt;name&gt;</c> (group <c>_default</c>), so an HTTP node registered through the proxy, or a gRPC
/// stream node, can be an app's agent while the cluster keeps its state, subscriptions and acks.</summary>
/// <remarks>
/// Request data: <c>{"event":"init|poke|watch|leave|peek|sign|load|describe","app","state","mark","data","path",
/// "subscriber","sign":{kind,wire,app,path,data,error},"old_version","id","source"}</c>.
/// Reply data: <c>{"state":...,"effects":[...],"peek":...,"version":"..."}</c> with code 200; a missing <c>state</c>
/// leaves the state unchanged. Effects: <c>{"fact":{"path","data"}}</c>, <c>{"give":{"data"}}</c>,
/// <c>{"kick":{"path","subscriber"}}</c>, <c>{"poke":{"app","mark","data","wire"}}</c>, <c>{"watch":{"app","path","wire"}}</c>,
/// <c>{"leave":{"app","path","wire"}}</c>, <c>{"create":{"child","agent","init"}}</c>, <c>{"kill":{"child"}}</c>.
/// A 4xx is the agent's nack, with the reply data as its error. 404 (no node serves the agent) and 503 (its node cannot be
/// reached, or a queue is full) mean the agent is unavailable: the app nacks with 503 and keeps its state. 499 and 504 are
/// an agent that did not answer in time, any other 5xx an agent that failed; the state is kept in every case.
/// </remarks>
public sealed class RemoteAgent(MessageBus bus, string name, TimeSpan timeout) : IAgent
{
    /// <summary>The service topic of a remote agent.</summary>
    public static string Topic(string name) => $"trellis.agents.{name}";

    public async ValueTask<string> VersionAsync(CancellationToken cancellationToken)
    {
        var reply = await CallAsync(WriteEvent(null), cancellationToken).ConfigureAwait(false);
        return reply.TryGetProperty("version", out var version) && version.ValueKind == JsonValueKind.String ? version.GetString()! : "1";
    }

    public async ValueTask<AgentStep> StepAsync(AgentEvent e, CancellationToken cancellationToken)
    {
        var reply = await CallAsync(WriteEvent(e), cancellationToken).ConfigureAwait(false);
        return ReadStep(reply);
    }

    private async Task<JsonElement> CallAsync(JsonPayload request, CancellationToken cancellationToken)
    {
        var reply = await bus.RequestAsync(Topic(name), request, timeout, cancellationToken).ConfigureAwait(false);
        switch (reply.Code)
        {
            case Codes.Ok:
                return reply.Data.IsNull ? default : reply.Data.ToJsonElement();
            case Codes.NotFound:
                // The bus answers 404 ("No active listeners for: ...") when no node serves the topic.
                throw new AgentUnavailableException($"agent '{name}' is unavailable: no node serves {Topic(name)}", noNode: true);
            case Codes.Unavailable:
                // 503: a queue on the way is full, or the gateway could not reach the node (port closed, connection reset,
                // stream gone). Either way the agent never answered, so this is no refusal of the agent's: the app nacks
                // with 503 and keeps its state.
                throw new AgentUnavailableException($"agent '{name}' is unavailable: {Text(reply)}", noNode: false);
            case Codes.RequestTimeout or Codes.HandlerTimeout:
                throw new AgentNackException($"agent '{name}' did not answer in time: {Text(reply)}", reply.Code);
            case >= 500:
                throw new AgentNackException($"agent '{name}' failed: {Text(reply)}", reply.Code);
            default:
                throw new AgentNackException($"agent '{name}' refused: {Text(reply)}", reply.Code);
        }

        static string Text(Message reply) =>
            reply.Data.IsNull ? $"code {reply.Code}" : reply.Data.ToJsonElement() is { ValueKind: JsonValueKind.String } s ? s.GetString()! : reply.Data.ToString();
    }

    private static JsonPayload WriteEvent(AgentEvent? e)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (e is null)
            {
                w.WriteString("event", "describe");
            }
            else
            {
                w.WriteString("event", e.Kind.ToString().ToLowerInvariant());
                w.WriteString("app", e.App);
                w.WritePropertyName("state");
                WriteOptional(w, e.State);
                Optional(w, "mark", e.Mark);
                if (e.Data is { } data)
                {
                    w.WritePropertyName("data");
                    data.WriteTo(w);
                }

                Optional(w, "path", e.Path);
                Optional(w, "subscriber", e.Subscriber);
                Optional(w, "old_version", e.OldVersion);
                Optional(w, "id", e.MessageId);
                Optional(w, "source", e.Source);
                if (e.Sign is { } sign)
                {
                    w.WriteStartObject("sign");
                    w.WriteString("kind", sign.Kind);
                    w.WriteString("wire", sign.Wire);
                    w.WriteString("app", sign.App);
                    Optional(w, "path", sign.Path);
                    if (sign.Data is { } signData)
                    {
                        w.WritePropertyName("data");
                        signData.WriteTo(w);
                    }

                    Optional(w, "error", sign.Error);
                    w.WriteEndObject();
                }
            }

            w.WriteEndObject();
        }

        return JsonPayload.FromTrustedUtf8(buffer.WrittenMemory);

        static void Optional(Utf8JsonWriter w, string name, string? value)
        {
            if (value is not null)
            {
                w.WriteString(name, value);
            }
        }

        static void WriteOptional(Utf8JsonWriter w, JsonElement? value)
        {
            if (value is { } v)
            {
                v.WriteTo(w);
            }
            else
            {
                w.WriteNullValue();
            }
        }
    }

    /// <summary>Reads a step from a remote agent's reply; throws INVALID_ARGUMENT naming what is malformed.</summary>
    internal static AgentStep ReadStep(JsonElement reply)
    {
        if (reply.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return AgentStep.Unchanged;
        }

        if (reply.ValueKind != JsonValueKind.Object)
        {
            throw TrellisException.Invalid("an agent's reply must be a JSON object {state, effects, peek}");
        }

        var effects = new List<AgentEffect>();
        if (reply.TryGetProperty("effects", out var list))
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw TrellisException.Invalid("an agent's 'effects' must be an array");
            }

            foreach (var item in list.EnumerateArray())
            {
                effects.Add(ReadEffect(item));
            }
        }

        var changed = reply.TryGetProperty("state", out var state);
        return new AgentStep
        {
            StateChanged = changed,
            State = changed && state.ValueKind != JsonValueKind.Null ? state.Clone() : null,
            Effects = effects,
            Peek = reply.TryGetProperty("peek", out var peek) && peek.ValueKind != JsonValueKind.Null ? peek.Clone() : null,
        };
    }

    private static AgentEffect ReadEffect(JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw TrellisException.Invalid("each effect must be an object such as {\"fact\":{\"path\":\"/x\",\"data\":1}}");
        }

        foreach (var property in item.EnumerateObject())
        {
            var v = property.Value;
            return property.Name switch
            {
                "fact" => new AgentEffect.Fact(Text(v, "path"), Data(v)),
                "give" => new AgentEffect.Give(Data(v)),
                "kick" => new AgentEffect.Kick(Text(v, "path"), OptionalText(v, "subscriber")),
                "poke" => new AgentEffect.Poke(Text(v, "app"), Text(v, "mark"), Data(v), Text(v, "wire")),
                "watch" => new AgentEffect.Watch(Text(v, "app"), Text(v, "path"), Text(v, "wire")),
                "leave" => new AgentEffect.Leave(Text(v, "app"), Text(v, "path"), Text(v, "wire")),
                "create" => new AgentEffect.CreateChild(Text(v, "child"), Text(v, "agent"), v.TryGetProperty("init", out var init) ? init.Clone() : null),
                "kill" => new AgentEffect.KillChild(Text(v, "child")),
                _ => throw TrellisException.Invalid($"unknown effect '{property.Name}' (fact, give, kick, poke, watch, leave, create, kill)"),
            };
        }

        throw TrellisException.Invalid("an effect object must have one property naming the effect");

        static JsonElement Data(JsonElement v) => v.ValueKind == JsonValueKind.Object && v.TryGetProperty("data", out var d) ? d.Clone() : default;

        static string Text(JsonElement v, string name) =>
            OptionalText(v, name) ?? throw TrellisException.Invalid($"an effect needs the string field '{name}'");

        static string? OptionalText(JsonElement v, string name) =>
            v.ValueKind == JsonValueKind.Object && v.TryGetProperty(name, out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
    }
}

/// <summary>A remote agent could not be asked at all: no node serves it, or its node cannot be reached.</summary>
public sealed class AgentUnavailableException(string message, bool noNode) : TrellisException(ErrorKind.Unavailable, message)
{
    /// <summary>True when no node serves the agent (the bus found no subscriber); false when one does but cannot be reached.</summary>
    public bool NoNode { get; } = noNode;
}

/// <summary>An agent refused an event (a nack), failed, or did not answer in time: a reply code other than 200.</summary>
public sealed class AgentNackException(string message, int code) : Exception(message)
{
    public int Code { get; } = code;
}
