using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Services;
using Trellis.Edge.Services.Internal;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Services;

public sealed class LanRegistryTests : IDisposable
{
    /// <summary>Generous for a loaded test machine; the agent's default is 100 ms.</summary>
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    private readonly TempFolder _homeA = new();
    private readonly TempFolder _homeB = new();

    public void Dispose()
    {
        _homeA.Dispose();
        _homeB.Dispose();
    }

    /// <summary>A UDP port nobody uses right now (agents of one test share it, as agents on one host do).</summary>
    private static int FreeUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    [Fact]
    public async Task Two_agents_on_one_port_find_each_others_services()
    {
        var port = FreeUdpPort();
        var tableA = new ServiceTable(_homeA.Path, NullLogger.Instance);
        var tableB = new ServiceTable(_homeB.Path, NullLogger.Instance);
        await using var a = new LanRegistry(tableA, "agent-a", port, NullLogger.Instance, Window);
        await using var b = new LanRegistry(tableB, "agent-b", port, NullLogger.Instance, Window);
        tableA.Publish(new LocalService("acme", "echo", "http://0.0.0.0:8080/echo", Scope.OS | Scope.Lan));
        tableA.Publish(new LocalService("acme", "hidden", "http://127.0.0.1:8081/", Scope.OS));
        tableB.Publish(new LocalService("acme", "echo", "http://127.0.0.1:9090/", Scope.Lan));
        tableB.Publish(new LocalService("zeta", "clock", "http://[::]:9091/", Scope.Lan | Scope.Wan));
        var ct = TestContext.Current.CancellationToken;

        var fromA = await a.QueryAsync("*", "*", ct).Within("agent a's LAN query");
        Assert.Equal(["acme/echo@agent-b http://127.0.0.1:9090/", "zeta/clock@agent-b http://<from>:9091/"], Describe(fromA));

        var fromB = await b.QueryAsync("acme", "*", ct).Within("agent b's LAN query");
        Assert.Equal(["acme/echo@agent-a http://<from>:8080/echo"], Describe(fromB));
        Assert.All(fromA.Concat(fromB), static f => Assert.Equal(Scope.Lan, f.Scope));
        Assert.Equal(0, a.Malformed + b.Malformed);
    }

    [Fact]
    public async Task A_thousand_services_are_found_completely()
    {
        var port = FreeUdpPort();
        var tableA = new ServiceTable(_homeA.Path, NullLogger.Instance);
        var tableB = new ServiceTable(_homeB.Path, NullLogger.Instance);
        await using var a = new LanRegistry(tableA, "agent-a", port, NullLogger.Instance, Window);
        await using var b = new LanRegistry(tableB, "agent-b", port, NullLogger.Instance, Window);
        for (var i = 0; i < 1000; i++)
        {
            tableB.Publish(new LocalService("bulk-publisher", $"service-number-{i:D4}", $"http://0.0.0.0:{10000 + i}/some/path/{i}", Scope.Lan));
        }

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var found = await a.QueryAsync("bulk-*", "*", TestContext.Current.CancellationToken).Within("the query for 1,000 services");
        TestContext.Current.TestOutputHelper?.WriteLine($"query took {watch.ElapsedMilliseconds} ms");
        Assert.Equal(1000, found.Count);
        Assert.Equal(Enumerable.Range(0, 1000).Select(static i => $"service-number-{i:D4}"), found.Select(static f => f.Service).Order());
        Assert.All(found, static f => Assert.Equal("agent-b", f.Provider));
    }

    [Fact]
    public async Task Malformed_datagrams_are_counted_and_ignored()
    {
        var port = FreeUdpPort();
        var tableA = new ServiceTable(_homeA.Path, NullLogger.Instance);
        var tableB = new ServiceTable(_homeB.Path, NullLogger.Instance);
        await using var a = new LanRegistry(tableA, "agent-a", port, NullLogger.Instance, Window);
        await using var b = new LanRegistry(tableB, "agent-b", port, NullLogger.Instance, Window);
        tableB.Publish(new LocalService("acme", "echo", "http://127.0.0.1:9090/", Scope.Lan));

        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        string[] garbage =
        [
            "not json at all",
            "[1,2,3]",
            """{"trellis-lan":2,"kind":"query","id":"x","from":"p","publisher":"*","service":"*"}""",
            """{"trellis-lan":1,"kind":"query","id":"x","from":"p","publisher":"a_b","service":"*"}""",
            """{"trellis-lan":1,"kind":"query","id":"","from":"p","publisher":"*","service":"*"}""",
            """{"trellis-lan":1,"kind":"found","id":"x","provider":"p","part":3,"parts":1,"services":[]}""",
            """{"trellis-lan":1,"kind":"dance","id":"x"}""",
        ];
        foreach (var text in garbage)
        {
            await sender.SendToAsync(Encoding.UTF8.GetBytes(text), new IPEndPoint(IPAddress.Loopback, port), TestContext.Current.CancellationToken);
        }

        await sender.SendToAsync(new byte[] { 0xff, 0x00, 0xfe }, new IPEndPoint(IPAddress.Loopback, port), TestContext.Current.CancellationToken);
        // Unicast to a shared port reaches one of the sockets that share it (SO_REUSEPORT), so the two counts add up.
        await Waits.UntilAsync(() => Task.FromResult(a.Malformed + b.Malformed), n => n == garbage.Length + 1, "the agents to count every malformed datagram");

        var found = await a.QueryAsync("acme", "echo", TestContext.Current.CancellationToken).Within("a query after the garbage");
        Assert.Equal("agent-b", Assert.Single(found).Provider);
    }

    [Fact]
    public void Answers_split_into_datagrams_of_at_most_8_KB_and_read_back()
    {
        var entries = Enumerable.Range(0, 1000).Select(static i => new LanEntry("pub", $"svc-{i}", $"http://0.0.0.0:{i + 1}/{new string('x', i % 200)}")).ToList();
        var datagrams = LanDatagram.EncodeFound("q1", "agent-b", entries);
        Assert.True(datagrams.Count > 1);
        Assert.All(datagrams, static d => Assert.True(d.Length <= LanDatagram.MaxBytes, $"a datagram of {d.Length} bytes"));

        var parsed = datagrams.Select(static d => LanDatagram.TryParse(d, out _)!).ToList();
        Assert.Equal(Enumerable.Range(0, datagrams.Count), parsed.Select(static p => p.Part));
        Assert.All(parsed, p => Assert.Equal((LanDatagram.Found, "q1", "agent-b", datagrams.Count), (p.Kind, p.Id, p.Provider, p.Parts)));
        Assert.Equal(entries, parsed.SelectMany(static p => p.Entries));

        var query = LanDatagram.TryParse(LanDatagram.EncodeQuery("q2", "agent-a", "ac*", "echo"), out var problem);
        Assert.Null(problem);
        Assert.Equal((LanDatagram.Query, "q2", "agent-a", "ac*", "echo"), (query!.Kind, query.Id, query.Provider, query.Publisher, query.Service));
    }

    [Theory]
    [InlineData("http://0.0.0.0:8080/echo?x=1", "192.0.2.9", "http://192.0.2.9:8080/echo?x=1")]
    [InlineData("http://[::]:8080/", "192.0.2.9", "http://192.0.2.9:8080/")]
    [InlineData("http://0.0.0.0/", "192.0.2.9", "http://192.0.2.9/")]
    [InlineData("http://127.0.0.1:8080/", "192.0.2.9", "http://127.0.0.1:8080/")]
    [InlineData("http://device.local:8080/a", "192.0.2.9", "http://device.local:8080/a")]
    public void The_address_of_an_unspecified_host_is_the_answering_one(string url, string from, string expected) =>
        Assert.Equal(expected, LanRegistry.Address(url, IPAddress.Parse(from)));

    [Fact]
    public void Queries_go_to_loopback_broadcast_and_every_interface()
    {
        var addresses = LanRegistry.BroadcastAddresses();
        Assert.Equal(IPAddress.Parse("127.255.255.255"), addresses[0]);
        Assert.Equal(addresses.Count, addresses.Distinct().Count());
    }

    /// <summary>"pub/svc@provider address", with the answering address (which depends on the route) as &lt;from&gt;.</summary>
    private static List<string> Describe(IReadOnlyList<FoundService> found) =>
        [.. found.Select(static f => $"{f.Publisher}/{f.Service}@{f.Provider} {Normalize(f.Address)}").Order(StringComparer.Ordinal)];

    private static string Normalize(string address)
    {
        var uri = new Uri(address);
        return uri.Port is 9091 or 8080 && IPAddress.TryParse(uri.DnsSafeHost, out var ip) && !ip.Equals(IPAddress.Any)
            ? address.Replace(uri.Host, "<from>", StringComparison.Ordinal)
            : address;
    }
}
