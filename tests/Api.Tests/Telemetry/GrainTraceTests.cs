using System.Diagnostics;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>An app poke's grain call joins the caller's trace: Orleans' activity propagation on the silo.</summary>
public sealed class GrainTraceTests
{
    [Fact]
    public async Task A_poke_with_a_traceparent_shows_the_grain_call_inside_that_trace()
    {
        var spans = new SpanSink();
        await using var gateway = await TestGateway.StartAsync(configure: spans.Attach);
        var app = $"t-{Guid.NewGuid():N}"[..20];
        var created = await gateway.PostAsync("/apps", new { app, agent = "counter" }, TestGateway.AdminToken);
        Assert.True(created.Status == 201, $"create answered {created.Status}: {created.Body}");

        // Poked by another process (this one's HttpClient spans would put their own trace in the header).
        await using var python = await PythonNode.StartAsync("poker");
        var answer = await OneTraceTestsBase.SendTracedAsync(
            python, new Uri(gateway.Address, $"/apps/{app}:poke"), new { mark = "add", data = new { by = 1 } }, TestGateway.AdminToken);
        Assert.True((int)answer["status"]! == 200, $"poke answered: {answer.ToJsonString()}");
        var (trace, caller) = OneTraceTestsBase.Parse((string)answer["traceparent"]!);

        var server = await OneTraceTestsBase.SpanAsync(spans, trace, a => a.Kind == ActivityKind.Server && a.ParentSpanId == caller, "the poke's HTTP server span");
        var grain = await OneTraceTestsBase.SpanAsync(
            spans, trace, a => a.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal), "an Orleans span of the poke's grain call");

        // The grain call's spans hang under the server span (directly or through Orleans' client span).
        var byId = spans.Of(trace).ToDictionary(a => a.SpanId);
        var ancestor = grain;
        while (ancestor.ParentSpanId != server.SpanId && byId.TryGetValue(ancestor.ParentSpanId, out var parent))
        {
            ancestor = parent;
        }

        Assert.True(ancestor.ParentSpanId == server.SpanId, $"the Orleans span '{grain.DisplayName}' is not under the poke's server span: {spans.Describe(trace)}");
    }
}
