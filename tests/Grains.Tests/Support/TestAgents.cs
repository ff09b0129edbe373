using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Grains.Apps;
using Trellis.Samples.Agents;

namespace Trellis.Grains.Tests.Support;

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

/// <summary>Runs version 1 of the evolving agent until <see cref="Upgrade"/>: what deploying new code to the silos
/// does, as the next activation of an app sees it.</summary>
public sealed class DeployableAgent : IAgent
{
    private volatile IAgent _current = new EvolvingAgentV1();

    public void Upgrade() => _current = new EvolvingAgentV2();

    public ValueTask<string> VersionAsync(CancellationToken cancellationToken) => _current.VersionAsync(cancellationToken);

    public ValueTask<AgentStep> StepAsync(AgentEvent e, CancellationToken cancellationToken) => _current.StepAsync(e, cancellationToken);
}

/// <summary>A counter whose <c>wait</c> poke holds the app until the test opens the gate: a call that outlives its caller's timeout.</summary>
public sealed class GateAgent : IAgent
{
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a <c>wait</c> poke is held at the gate.</summary>
    public Task Entered => _entered.Task;

    public void Open() => _open.TrySetResult();

    public ValueTask<string> VersionAsync(CancellationToken cancellationToken) => ValueTask.FromResult("1");

    public async ValueTask<AgentStep> StepAsync(AgentEvent e, CancellationToken cancellationToken)
    {
        var n = e.State is { ValueKind: JsonValueKind.Object } s ? s.GetProperty("n").GetInt32() : 0;
        switch (e.Kind)
        {
            case AgentEventKind.Init:
                return Step(0);
            case AgentEventKind.Poke when e.Mark == "wait":
                _entered.TrySetResult();
                await _open.Task;
                return Step(n + 1);
            case AgentEventKind.Peek:
                return new AgentStep { Peek = JsonSerializer.SerializeToElement(new { n }) };
            default:
                throw TrellisException.Invalid($"the gate takes the poke wait, not '{e.Mark}'");
        }

        static AgentStep Step(int n) => new() { StateChanged = true, State = JsonSerializer.SerializeToElement(new { n }) };
    }
}

/// <summary>Plays ball with another app: <c>serve {"to", "rounds"}</c> pokes it with <c>ball {"left": rounds}</c>, and each
/// <c>ball</c> is counted and returned to its sender with one round less until none are left. Peek /hits.</summary>
public sealed class PingPongAgent : Agent<PingPongAgent.Court>
{
    protected override void OnPoke(AgentContext context, Court state, string mark, JsonElement data)
    {
        switch (mark)
        {
            case "serve":
                context.Poke(data.GetProperty("to").GetString()!, "ball", new { left = data.GetProperty("rounds").GetInt32() }, "rally");
                break;
            case "ball":
                state.Hits++;
                var left = data.GetProperty("left").GetInt32();
                if (left > 0)
                {
                    context.Poke(context.Source ?? throw TrellisException.Invalid("a ball comes from an app"), "ball", new { left = left - 1 }, "rally");
                }

                break;
            default:
                throw TrellisException.Invalid(mark);
        }
    }

    protected override object? OnPeek(Court state, string path) => path == "/hits" ? new { hits = state.Hits } : null;

    public sealed class Court
    {
        public int Hits { get; set; }
    }
}

/// <summary>Creates many children with one poke: <c>brood {"count"}</c> creates counters <c>kid0</c> … <c>kidN-1</c>.</summary>
public sealed class BroodAgent : Agent<BroodAgent.Nest>
{
    protected override void OnPoke(AgentContext context, Nest state, string mark, JsonElement data)
    {
        var count = data.GetProperty("count").GetInt32();
        for (var i = 0; i < count; i++)
        {
            context.CreateChild($"kid{i}", CounterAgent.Name);
        }

        state.Children += count;
    }

    public sealed class Nest
    {
        public int Children { get; set; }
    }
}

public static class TestAgents
{
    /// <summary>The example agents and the test agents above, as every silo of a test cluster offers them.</summary>
    public static AppAgents Create(Action<AppAgents>? more = null)
    {
        var agents = new AppAgents { RemoteTimeout = TimeSpan.FromSeconds(5) }.AddExamples()
            .Add("tally", new TallyAgent())
            .Add("kicker", new KickerAgent())
            .Add("pingpong", new PingPongAgent())
            .Add("brood", new BroodAgent());
        more?.Invoke(agents);
        return agents;
    }
}
