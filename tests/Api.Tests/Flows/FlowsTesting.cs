using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Flows.Broker;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Flows;

/// <summary>Helpers of the flows tests: unique names, a queue declared on the gateway's own flow broker, participants.</summary>
internal static class FlowsTesting
{
    public const string Admin = TestGateway.AdminToken;

    /// <summary>A name unique to this test run: letters, digits and '-' (a valid role and graph segment).</summary>
    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    /// <summary>Declares an inport queue (with its fanout exchange) on the gateway's flow broker, as a participant would.</summary>
    public static async Task<string> DeclareQueueAsync(TestGateway gateway, string role, string port = "IN")
    {
        var broker = gateway.Services.GetRequiredService<IFlowBroker>();
        await broker.StartAsync(TestContext.Current.CancellationToken);
        var queue = $"{role}.{port}";
        await broker.DeclareInportAsync(queue, FlowPortOptions.Default, TestContext.Current.CancellationToken);
        return queue;
    }

    /// <summary>Waits until GET /flows/participants lists a participant of each role.</summary>
    public static Task<JsonArray> WaitForParticipantsAsync(TestGateway gateway, params string[] roles) =>
        Waits.UntilAsync(
            async () => (await gateway.GetAsync("/flows/participants", Admin)).Json.AsArray(),
            list => roles.All(role => list.Any(p => (string?)p!["role"] == role && (string?)p["status"] == "online")),
            $"participants {string.Join(", ", roles)} to be listed online");

    /// <summary>A JSON graph with nodes (process = role) and pubsub edges "a.out>b.in".</summary>
    public static string Graph(IEnumerable<(string Process, string Component)> nodes, params (string Src, string SrcPort, string Tgt, string TgtPort)[] edges)
    {
        var processes = new JsonObject();
        foreach (var (process, component) in nodes)
        {
            processes[process] = new JsonObject { ["component"] = component };
        }

        var connections = new JsonArray();
        foreach (var e in edges)
        {
            connections.Add(new JsonObject
            {
                ["src"] = new JsonObject { ["process"] = e.Src, ["port"] = e.SrcPort },
                ["tgt"] = new JsonObject { ["process"] = e.Tgt, ["port"] = e.TgtPort },
            });
        }

        return new JsonObject { ["processes"] = processes, ["connections"] = connections }.ToJsonString();
    }
}
