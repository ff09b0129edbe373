using Trellis.Grains.Apps;
using System.Text.Json;
using Trellis.Core.Errors;

namespace Trellis.Samples.Agents;

/// <summary>A chat room: poke <c>say {"from", "text"}</c>; watchers of <c>/messages</c> get the recent history
/// first, then each new message; peek <c>/messages</c> reads the history.</summary>
public sealed class ChatAgent : Agent<ChatAgent.Room>
{
    public const string Name = "chat";
    public const int History = 50;

    protected override void OnInit(AgentContext context, Room state, JsonElement? init)
    {
        if (init is { ValueKind: JsonValueKind.Object } i && i.TryGetProperty("topic", out var topic) && topic.ValueKind == JsonValueKind.String)
        {
            state.Topic = topic.GetString()!;
        }
    }

    protected override void OnPoke(AgentContext context, Room state, string mark, JsonElement data)
    {
        if (mark != "say")
        {
            throw TrellisException.Invalid($"a chat room takes the mark say, not '{mark}'");
        }

        var from = Field(data, "from");
        var text = Field(data, "text");
        if (text.Length > 4000)
        {
            throw TrellisException.Invalid("text is longer than 4000 characters");
        }

        var line = new Line(++state.Sequence, from, text);
        state.Lines.Add(line);
        if (state.Lines.Count > History)
        {
            state.Lines.RemoveAt(0);
        }

        context.Fact("/messages", line);
    }

    protected override void OnWatch(AgentContext context, Room state, string path)
    {
        if (path != "/messages")
        {
            throw TrellisException.Invalid($"a chat room publishes /messages, not '{path}'");
        }

        foreach (var line in state.Lines)
        {
            context.Give(line);
        }
    }

    protected override object? OnPeek(Room state, string path) => path switch
    {
        "/messages" => state.Lines,
        "/topic" => new { topic = state.Topic },
        _ => null,
    };

    private static string Field(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s
            : throw TrellisException.Invalid($"say needs a non-empty string '{name}'");

    public sealed record Line(long Seq, string From, string Text);

    public sealed class Room
    {
        public string Topic { get; set; } = "";

        public long Sequence { get; set; }

        public List<Line> Lines { get; set; } = [];
    }
}
