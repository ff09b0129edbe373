using Trellis.Grains.Apps;
using System.Text.Json;
using Trellis.Core.Errors;

namespace Trellis.Samples.Agents;

/// <summary>A counter app: poke <c>add {"by": n}</c> (or <c>reset</c>); watch or peek <c>/count</c>.</summary>
public sealed class CounterAgent : Agent<CounterAgent.CounterState>
{
    public const string Name = "counter";

    protected override void OnPoke(AgentContext context, CounterState state, string mark, JsonElement data)
    {
        switch (mark)
        {
            case "add":
                state.Count += data.ValueKind == JsonValueKind.Object && data.TryGetProperty("by", out var by)
                    && by.ValueKind == JsonValueKind.Number && by.TryGetInt64(out var n)
                    ? n
                    : throw TrellisException.Invalid("add needs {\"by\": <integer>}");
                break;
            case "reset":
                state.Count = 0;
                break;
            default:
                throw TrellisException.Invalid($"the counter takes the marks add and reset, not '{mark}'");
        }

        context.Fact("/count", new { count = state.Count });
    }

    protected override void OnWatch(AgentContext context, CounterState state, string path)
    {
        if (path != "/count")
        {
            throw TrellisException.Invalid($"the counter publishes /count, not '{path}'");
        }

        context.Give(new { count = state.Count });
    }

    protected override object? OnPeek(CounterState state, string path) => path == "/count" ? new { count = state.Count } : null;

    public sealed class CounterState
    {
        public long Count { get; set; }
    }
}
