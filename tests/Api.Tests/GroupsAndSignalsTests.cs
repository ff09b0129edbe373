using Trellis.Api.Tests.Infrastructure;
using Trellis.TestKit;

namespace Trellis.Api.Tests;

/// <summary>Exclusion groups and wildcard slots across several real nodes behind one gateway.</summary>
public sealed class GroupsAndSignalsTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private PythonNode _a = null!;
    private PythonNode _b = null!;

    public async ValueTask InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _a = await PythonNode.StartAsync("a");
        _b = await PythonNode.StartAsync("b");
    }

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Two_nodes_in_one_group_execute_each_request_once_between_them()
    {
        var service = new object[] { new { topic = "grp.same", group = "workers", path = "/echo" } };
        var a = await _gateway.RegisterAsync(new { port = _a.Port, services = service });
        await _gateway.RegisterAsync(new { port = _b.Port, services = service });

        const int Requests = 20;
        var replies = await Task.WhenAll(Enumerable.Range(0, Requests).Select(i =>
            _gateway.PostAsync($"/request/{a.Id}", new { topic = "grp.same", message = i }, a.Token)));
        Assert.All(replies, r => Assert.Equal(200, r.Status));
        var answeredBy = replies.Select(r => (string)r.Json["messages"]![0]!["data"]!["node"]!).ToArray();

        // One execution per request: the calls the two nodes saw add up to the requests, and every message was seen once.
        var calls = (await _a.CallsAsync("/echo")).Concat(await _b.CallsAsync("/echo")).Select(c => (int)c["body"]!["data"]!).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Requests), calls);
        Assert.Contains("a", answeredBy);
        Assert.Contains("b", answeredBy);
    }

    [Fact]
    public async Task Two_groups_on_one_topic_both_execute_and_the_requester_takes_the_first_reply()
    {
        var a = await _gateway.RegisterAsync(new { port = _a.Port, services = new object[] { new { topic = "grp.both", group = "left", path = "/echo" } } });
        await _gateway.RegisterAsync(new { port = _b.Port, services = new object[] { new { topic = "grp.both", group = "right", path = "/echo" } } });

        var reply = await _gateway.PostAsync($"/request/{a.Id}", new { topic = "grp.both", message = "x" }, a.Token);
        Assert.Equal(200, reply.Status);
        Assert.Equal(1, (int)reply.Json["length"]!);
        await _a.WaitForCallsAsync("/echo", 1, "group left to execute");
        await _b.WaitForCallsAsync("/echo", 1, "group right to execute");
    }

    [Fact]
    public async Task Signals_reach_every_matching_wildcard_slot_across_nodes()
    {
        var a = await _gateway.RegisterAsync(new { port = _a.Port, slots = new object[] { new { topic = "sig.*", path = "/record" } } });
        var b = await _gateway.RegisterAsync(new
        {
            port = _b.Port,
            slots = new object[] { new { topic = "sig.user.*", path = "/record" }, new { topic = "sig.user.created", group = "audit", path = "/audit" } },
        });

        var sent = await _gateway.PostAsync($"/signal/{b.Id}", new { topic = "sig.user.created", message = new { id = 7 } }, b.Token);
        Assert.Equal(200, sent.Status);
        Assert.Equal("""{"status":"ok"}""", sent.Body);
        await _a.WaitForCallsAsync("/record", 1, "sig.* to get sig.user.created");
        await _b.WaitForCallsAsync("/record", 1, "sig.user.* to get sig.user.created");
        await _b.WaitForCallsAsync("/audit", 1, "the audit group to get sig.user.created");
        var envelope = (await _b.CallsAsync("/record"))[0]["body"]!;
        Assert.Equal("sig.user.created", (string)envelope["topic"]!);
        Assert.Equal(7, (int)envelope["data"]!["id"]!);

        // sig.order matches only sig.*; a later signal that B does match proves B has had its chance.
        Assert.Equal(200, (await _gateway.PostAsync($"/signal/{a.Id}", new { topic = "sig.order", message = 1 }, a.Token)).Status);
        await _a.WaitForAsync(e => (string?)e["body"]?["topic"] == "sig.order", "sig.* to get sig.order");
        Assert.Equal(200, (await _gateway.PostAsync($"/signal/{a.Id}", new { topic = "sig.user.deleted", message = 2 }, a.Token)).Status);
        await _b.WaitForAsync(e => (string?)e["body"]?["topic"] == "sig.user.deleted", "sig.user.* to get sig.user.deleted");
        Assert.DoesNotContain(await _b.CallsAsync("/record"), c => (string?)c["body"]!["topic"] == "sig.order");

        // A signal nobody listens to is still accepted: signals are fire and forget.
        Assert.Equal(200, (await _gateway.PostAsync($"/signal/{a.Id}", new { topic = "nobody.listens" }, a.Token)).Status);
    }
}
