using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Trellis.Api.Console;
using Trellis.Api.Console.Internal;
using Trellis.Api.Dashboard;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Core.Diagnostics;
using Trellis.Core.Nodes;
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;
using Trellis.TestKit;

namespace Trellis.Api.Tests.Console;

/// <summary>/console: the pages, the snapshot JSON and the event stream, which runs (meter listener, error-channel slot,
/// snapshot loop) only while a viewer is connected; no token in anything it serves; the admin token off loopback.</summary>
public sealed class ConsoleEndpointTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    private ConsoleHub Hub => _gateway.Services.GetRequiredService<ConsoleHub>();

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
    {
        ["Trellis:Console:Interval"] = "00:00:00.2",
    });

    public async ValueTask DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task The_pages_and_their_assets_are_served_from_the_assembly()
    {
        var page = await _gateway.GetAsync("/console/", token: null);
        Assert.True(page.Status == 200, $"GET /console/: {page.Status}");
        Assert.Contains("<main", page.Body, StringComparison.Ordinal);
        Assert.Contains("assets/console.js", page.Body, StringComparison.Ordinal);
        foreach (var asset in new[] { "console.js", "console.css" })
        {
            var file = await _gateway.GetAsync($"/console/assets/{asset}", token: null);
            Assert.True(file.Status == 200 && file.Body.Length > 100, $"GET /console/assets/{asset}: {file.Status}");
        }

        var missing = await _gateway.GetAsync("/console/assets/nope.js", token: null);
        Assert.Equal(404, missing.Status);
        Assert.Contains("nope.js", missing.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_snapshot_shows_the_silo_this_gateway_and_an_active_app_without_starting_anything()
    {
        var app = $"console-{Guid.NewGuid():N}"[..24];
        Assert.Equal(201, (await _gateway.PostAsync("/apps", new { app, agent = "counter" }, TestGateway.AdminToken)).Status);
        Assert.Equal(200, (await _gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 } }, TestGateway.AdminToken)).Status);

        var snapshot = (await _gateway.GetAsync("/console/api/snapshot", token: null)).Json;
        var silo = Assert.Single(snapshot["silos"]!.AsArray());
        Assert.Equal("Active", (string?)silo!["status"]);
        Assert.True((int)silo["activations"]! > 0);
        Assert.Contains(snapshot["gateways"]!.AsArray(), g => (bool)g!["here"]! && (string?)g["health"] == "up");
        var row = Assert.Single(snapshot["apps"]!.AsArray(), a => (string?)a!["app"] == app);
        Assert.Equal("counter", (string?)row!["agent"]);
        Assert.Equal(1, (int)row["pokes"]!);
        Assert.False(Hub.Running);
        Assert.False(Hub.Listening);
    }

    [Fact]
    public async Task The_event_stream_runs_only_while_a_viewer_is_connected()
    {
        Assert.False(Hub.Running);
        Assert.False(Hub.Listening);
        Assert.False(Hub.SubscribedToErrors);
        var topic = $"console.sse.{Guid.NewGuid():N}";
        var missing = $"console.missing.{Guid.NewGuid():N}";

        await using (var events = await SseReader.OpenAsync(_gateway.Http, "/console/events", token: null))
        {
            Assert.Equal(200, events.Status);
            var first = await events.NextAsync("the first snapshot");
            Assert.Equal("snapshot", first?.Name);
            Assert.True(Hub.Running && Hub.Listening && Hub.SubscribedToErrors, "a viewer is connected: the loop, the listener and the error slot run");

            // Requests recorded into the shared instrument and a request nobody serves (404 on the error channel).
            TrellisTelemetry.RequestDuration.Record(0.004,
                new(TrellisTelemetry.Tags.Topic, topic), new(TrellisTelemetry.Tags.Group, "_default"), new(TrellisTelemetry.Tags.Code, 200));
            var bus = await _gateway.Services.GetRequiredService<BusHost>().Started;
            var reply = await bus.RequestAsync(missing, Core.Messaging.JsonPayload.Parse("{}"), cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(404, reply.Code);

            var seen = await NextMatchingAsync(events, s =>
                s["topics"]!.AsArray().Any(t => (string?)t!["topic"] == topic && (long)t["total"]! == 1) &&
                s["errors"]!["tail"]!.AsArray().Any(e => (string?)e!["topic"] == missing && (int)e["code"]! == 404),
                $"a snapshot with {topic}'s request and the 404 for {missing}");
            var rate = seen["topics"]!.AsArray().First(t => (string?)t!["topic"] == topic)!;
            Assert.InRange((double)rate["p50"]!, 0.004, 0.004 * 1.08);
        }

        await Waits.UntilAsync(() => Task.FromResult((Hub.Running, Hub.Listening, Hub.SubscribedToErrors, Hub.Viewers)),
            s => s == (false, false, false, 0), "the console to stop once its last viewer left");
    }

    [Fact]
    public async Task Nothing_the_console_serves_holds_a_token_or_its_hash()
    {
        var python = await PythonNode.StartAsync("console-secrets");
        await using var _ = python;
        var node = await _gateway.RegisterAsync(new
        {
            port = python.Port,
            services = new object[] { new { topic = $"console.secret.{Guid.NewGuid():N}", group = "_default", path = "/echo" } },
        });
        var provider = $"dev-{Guid.NewGuid():N}"[..16];
        var deviceToken = await _gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(provider).IssueToken(["console.*"]);
        var app = $"console-{Guid.NewGuid():N}"[..24];
        Assert.Equal(201, (await _gateway.PostAsync("/apps", new { app, agent = "counter" }, TestGateway.AdminToken)).Status);

        var served = new List<string> { (await _gateway.GetAsync("/console/api/snapshot", token: null)).Body };
        await using (var events = await SseReader.OpenAsync(_gateway.Http, "/console/events", token: null))
        {
            var snapshot = await NextMatchingAsync(events,
                s => s["nodes"]!.AsArray().Any(n => (string?)n!["id"] == node.Id) && s["devices"]!.AsArray().Any(d => (string?)d!["provider"] == provider),
                $"a snapshot with node {node.Id} and device {provider}");
            served.Add(snapshot.ToJsonString());
        }

        Assert.Contains(node.Id, served[0], StringComparison.Ordinal);
        foreach (var secret in new[] { node.Token, deviceToken, TestGateway.AdminToken })
        {
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(secret));
            foreach (var form in new[] { secret, Convert.ToHexString(hash), Convert.ToHexStringLower(hash), Convert.ToBase64String(hash) })
            {
                foreach (var json in served)
                {
                    Assert.DoesNotContain(form, json, StringComparison.Ordinal);
                }
            }
        }
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("Bearer wrong-token-0123456789abcdef", false)]
    [InlineData("Bearer " + TestGateway.AdminToken, true)]
    [InlineData("Basic " + "b3BzOmFkbWluLXRva2VuLWZvci10ZXN0cy0wMTIzNDU2Nzg5", true)]   // ops:admin-token-for-tests-0123456789
    public async Task Off_loopback_the_console_takes_the_admin_token(string? authorization, bool allowed)
    {
        var (status, body, passed) = await GuardAsync("192.0.2.7", authorization, NodeCredentials.Hash(TestGateway.AdminToken));
        Assert.Equal(allowed, passed);
        Assert.Equal(allowed ? 200 : 401, status);
        if (!allowed)
        {
            Assert.Contains("admin token", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Without_an_admin_token_the_console_is_loopback_only()
    {
        var (status, body, passed) = await GuardAsync("192.0.2.7", "Bearer anything-at-all-0123456789", adminHash: null);
        Assert.False(passed);
        Assert.Equal(401, status);
        Assert.Contains("loopback callers only", body, StringComparison.Ordinal);
        Assert.True((await GuardAsync("::1", null, adminHash: null)).Passed);
    }

    [Fact]
    public async Task With_the_console_disabled_nothing_is_mapped()
    {
        await using var off = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Console:Enabled"] = "false" });
        Assert.Equal(404, (await off.GetAsync("/console/", token: null)).Status);
        Assert.Equal(404, (await off.GetAsync("/console/events", token: null)).Status);
        Assert.Null(off.Services.GetService<ConsoleHub>());
    }

    private static async Task<(int Status, string Body, bool Passed)> GuardAsync(string remote, string? authorization, byte[]? adminHash)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.Response.Body = new MemoryStream();
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        var passed = false;
        await ConsoleEndpoints.GuardAsync(context, adminHash, _ =>
        {
            passed = true;
            return Task.CompletedTask;
        });
        return (context.Response.StatusCode, Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()), passed);
    }

    private static async Task<System.Text.Json.Nodes.JsonNode> NextMatchingAsync(SseReader events, Func<System.Text.Json.Nodes.JsonNode, bool> match, string what)
    {
        using var deadline = new CancellationTokenSource(Waits.Default);
        while (true)
        {
            var next = await events.NextAsync(what, Waits.Default) ?? throw new InvalidOperationException($"the stream ended before {what}");
            if (next.Data is { } data && match(data))
            {
                return data;
            }

            if (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting for {what}; last: {next.Data?.ToJsonString()[..Math.Min(500, next.Data.ToJsonString().Length)]}");
            }
        }
    }
}
