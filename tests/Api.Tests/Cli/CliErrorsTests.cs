using System.Text.Json.Nodes;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Cli;

/// <summary><c>trellis errors tail</c> and the route under it, <c>GET /errors</c>: the error channel as Server-Sent Events.</summary>
public sealed class CliErrorsTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private CliTesting _cli = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _cli = new CliTesting(_gateway);
    }

    public async ValueTask DisposeAsync()
    {
        _cli.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Tail_prints_the_report_of_a_failing_request_until_cancelled()
    {
        var topic = $"cli.errors.{Guid.NewGuid():N}";
        using var stop = new CancellationTokenSource();
        var output = new SharedWriter();
        var tail = _cli.RunAsync(["errors", "tail", "--url", _gateway.Address.ToString(), "--token", TestGateway.AdminToken], "", stop.Token, output);

        // The slot exists once the stream has started, which the CLI does not say: fail requests until one is reported.
        await Waits.UntilAsync(async () =>
        {
            var failed = await _cli.AdminAsync("request", topic, "-d", """{"why":"nobody serves it"}""");
            Assert.True(failed.Exit == CliApp.Failed, failed.ToString());
            return output.ToString();
        }, o => o.Contains(topic, StringComparison.Ordinal), "the failing request's report on the tail");

        await stop.CancelAsync();
        var run = await tail.Within("the tail to end after Ctrl+C");
        Assert.True(run.Exit == CliApp.Ok, run.ToString());
        var report = JsonNode.Parse(run.Lines.First(l => l.Contains(topic, StringComparison.Ordinal)))!;
        Assert.Equal(404, (int)report["code"]!);
        Assert.Equal(topic, (string)report["topic"]!);
        Assert.Equal("nobody serves it", (string)report["request_data"]!["why"]!);
        Assert.Equal("requester", (string)report["origin"]!);
    }

    [Fact]
    public async Task Recent_reports_come_first_and_the_route_needs_the_admin_token()
    {
        var topic = $"cli.errors.{Guid.NewGuid():N}";
        Assert.Equal(CliApp.Failed, (await _cli.AdminAsync("request", topic)).Exit);

        using var stop = new CancellationTokenSource();
        var output = new SharedWriter();
        var tail = _cli.RunAsync(["errors", "tail", "-n", "1000", "-o", "yaml", "--url", _gateway.Address.ToString(), "--token", TestGateway.AdminToken], "", stop.Token, output);
        await Waits.UntilAsync(() => Task.FromResult(output.ToString()), o => o.Contains($"topic: {topic}", StringComparison.Ordinal), "the held report as YAML");
        await stop.CancelAsync();
        var run = await tail.Within("the tail to end");
        Assert.StartsWith("---\ncode: 404\n", run.Out, StringComparison.Ordinal);

        var noToken = await _gateway.GetAsync("/errors", null);
        Assert.Equal(401, noToken.Status);
        Assert.Contains("admin token", noToken.ErrorMessage, StringComparison.Ordinal);
        var wrong = await _cli.RunAsync("errors", "tail", "--url", _gateway.Address.ToString(), "--token", "wrong-token");
        Assert.True(wrong.Exit == CliApp.Failed, wrong.ToString());
        Assert.Contains("401", wrong.Err, StringComparison.Ordinal);
        Assert.Equal(400, (await _gateway.GetAsync("/errors?recent=x", TestGateway.AdminToken)).Status);
        Assert.Equal(405, (await _gateway.SendAsync(HttpMethod.Post, "/errors", "{}", TestGateway.AdminToken)).Status);
    }

    [Fact]
    public async Task Without_an_admin_token_loopback_callers_may_tail_and_publish()
    {
        await using var open = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Security:AdminToken"] = "" });
        var topic = $"cli.errors.{Guid.NewGuid():N}";
        var failed = await _cli.RunAsync("request", topic, "--url", open.Address.ToString());
        Assert.True(failed.Exit == CliApp.Failed, failed.ToString());
        Assert.Contains("answered 404", failed.Err, StringComparison.Ordinal);

        using var stop = new CancellationTokenSource();
        var output = new SharedWriter();
        var tail = _cli.RunAsync(["errors", "tail", "--recent", "10", "--url", open.Address.ToString()], "", stop.Token, output);
        await Waits.UntilAsync(() => Task.FromResult(output.ToString()), o => o.Contains(topic, StringComparison.Ordinal), "the held report");
        await stop.CancelAsync();
        Assert.Equal(CliApp.Ok, (await tail.Within("the tail to end")).Exit);
    }
}
