using System.Text.Json;
using Trellis.Core.Apps.Examples;
using Trellis.Core.Apps;
using Trellis.Core.Errors;
using Trellis.Core.Grains;
using Xunit;

namespace Trellis.TestKit.Grains;

/// <summary>Watches other apps and pokes them, recording every sign it gets (peek /signs).</summary>
public sealed class TallyAgent : Agent<TallyAgent.Tally>
{
    protected override void OnPoke(AgentContext context, Tally state, string mark, JsonElement data)
    {
        var target = data.GetProperty("app").GetString()!;
        switch (mark)
        {
            case "watch":
                context.Watch(target, data.GetProperty("path").GetString()!, "w1");
                break;
            case "leave":
                context.Leave(target, data.GetProperty("path").GetString()!, "w1");
                break;
            case "poke":
                context.Poke(target, data.GetProperty("mark").GetString()!, data.GetProperty("data"), "p1");
                break;
            default:
                throw TrellisException.Invalid(mark);
        }
    }

    protected override void OnSign(AgentContext context, Tally state, AgentSign sign) =>
        state.Signs.Add($"{sign.Kind}:{sign.Wire}:{sign.App}:{(sign.Error is null ? "ok" : "error")}:{sign.Data?.GetRawText()}");

    protected override object? OnPeek(Tally state, string path) => path == "/signs" ? state.Signs : null;

    public sealed class Tally
    {
        public List<string> Signs { get; set; } = [];
    }
}

/// <summary>Publishes /news; poke kick ends every subscription of /news.</summary>
public sealed class KickerAgent : Agent<KickerAgent.Empty>
{
    protected override void OnPoke(AgentContext context, Empty state, string mark, JsonElement data)
    {
        if (mark == "kick")
        {
            context.Kick("/news");
        }
        else
        {
            context.Fact("/news", data);
        }
    }

    protected override void OnWatch(AgentContext context, Empty state, string path)
    {
        if (path != "/news")
        {
            throw TrellisException.Invalid("only /news");
        }
    }

    public sealed class Empty
    {
    }
}

/// <summary>Version 1 keeps a number; version 2 keeps a list and upgrades the number into it.</summary>
public sealed class EvolvingAgentV1 : Agent<EvolvingAgentV1.V1>
{
    protected override void OnPoke(AgentContext context, V1 state, string mark, JsonElement data) => state.Number = data.GetInt32();

    protected override object? OnPeek(V1 state, string path) => state;

    public sealed class V1
    {
        public int Number { get; set; }
    }
}

public sealed class EvolvingAgentV2 : Agent<EvolvingAgentV2.V2>
{
    public override string Version => "2";

    protected override void OnPoke(AgentContext context, V2 state, string mark, JsonElement data) => state.Numbers.Add(data.GetInt32());

    protected override object? OnPeek(V2 state, string path) => state;

    protected override V2 OnLoad(AgentContext context, JsonElement? oldState, string oldVersion)
    {
        var upgraded = new V2 { UpgradedFrom = oldVersion };
        if (oldState is { ValueKind: JsonValueKind.Object } old)
        {
            upgraded.Numbers.Add(old.GetProperty("number").GetInt32());
        }

        return upgraded;
    }

    public sealed class V2
    {
        public List<int> Numbers { get; set; } = [];

        public string UpgradedFrom { get; set; } = "";
    }
}

public static class AppTestSetup
{
    public static Action<GrainTypes> Agents(Action<AppAgents>? more = null) => types =>
    {
        var agents = new AppAgents { RemoteTimeout = TimeSpan.FromSeconds(5) }.AddExamples()
            .Add("tally", new TallyAgent())
            .Add("kicker", new KickerAgent());
        more?.Invoke(agents);
        agents.RegisterGrain(types);
    };
}
