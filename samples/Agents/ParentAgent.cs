using Trellis.Grains.Apps;
using System.Text.Json;
using Trellis.Core.Errors;

namespace Trellis.Samples.Agents;

/// <summary>A parent of child apps: poke <c>spawn {"name", "agent", "init"}</c> creates <c>parent/name</c>, poke
/// <c>kill {"name"}</c> kills it (and its children); peek <c>/children</c> lists them.</summary>
public sealed class ParentAgent : Agent<ParentAgent.Family>
{
    public const string Name = "parent";

    protected override void OnPoke(AgentContext context, Family state, string mark, JsonElement data)
    {
        var name = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
            ? n.GetString()!
            : throw TrellisException.Invalid($"{mark} needs a string 'name'");
        switch (mark)
        {
            case "spawn":
                var agent = data.TryGetProperty("agent", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : CounterAgent.Name;
                context.CreateChild(name, agent, data.TryGetProperty("init", out var init) ? init : null);
                if (!state.Children.Contains(name))
                {
                    state.Children.Add(name);
                }

                break;
            case "kill":
                context.KillChild(name);
                state.Children.Remove(name);
                break;
            default:
                throw TrellisException.Invalid($"a parent takes the marks spawn and kill, not '{mark}'");
        }
    }

    protected override object? OnPeek(Family state, string path) => path == "/children" ? state.Children : null;

    public sealed class Family
    {
        public List<string> Children { get; set; } = [];
    }
}

/// <summary>The example agents every silo offers: counter, chat and parent.</summary>
public static class ExampleAgents
{
    public static AppAgents AddExamples(this AppAgents agents) => agents
        .Add(CounterAgent.Name, new CounterAgent())
        .Add(ChatAgent.Name, new ChatAgent())
        .Add(ParentAgent.Name, new ParentAgent());
}
