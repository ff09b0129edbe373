using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Services;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Services;

public sealed class DiscoveryTests : IDisposable
{
    private readonly TempFolder _home = new();
    private readonly ManualTime _time = new();
    private readonly ServiceTable _table;
    private readonly CountingScope _lan = new(Scope.Lan);
    private readonly CountingScope _wan = new(Scope.Wan);

    public DiscoveryTests()
    {
        _table = new ServiceTable(_home.Path, NullLogger.Instance);
    }

    public void Dispose() => _home.Dispose();

    private Discovery Create(DiscoveryOptions? options = null) =>
        new("self", _table, _lan.DiscoverAsync, _wan, NullLogger.Instance, options, _time);

    [Fact]
    public async Task Finds_every_provider_in_scope_order_process_os_lan_wan()
    {
        _wan.Answer("acme", "echo", "wan-1", "edge.acme.echo");
        _lan.Answer("acme", "echo", "lan-1", "http://192.0.2.7:80/");
        _lan.Answer("acme", "echo", "lan-2", "http://192.0.2.8:80/");
        _table.Publish(new LocalService("acme", "echo", "http://127.0.0.1:5000/", Scope.OS | Scope.Lan));
        _table.Publish(new LocalService("acme", "echo-wan-only", "http://127.0.0.1:5001/", Scope.Wan));
        _table.Publish(new LocalService("other", "echo", "http://127.0.0.1:5002/", Scope.OS));
        var discovery = Create();
        discovery.AddBuiltin("acme", "echo", "inproc");

        var found = await discovery.DiscoverAsync("acme", "echo", Scope.All, TimeSpan.Zero, TestContext.Current.CancellationToken);

        Assert.Equal(
            [
                new FoundService("acme", "echo", "self", Scope.Process, "inproc"),
                new FoundService("acme", "echo", "self", Scope.OS, "http://127.0.0.1:5000/"),
                new FoundService("acme", "echo", "lan-1", Scope.Lan, "http://192.0.2.7:80/"),
                new FoundService("acme", "echo", "lan-2", Scope.Lan, "http://192.0.2.8:80/"),
                new FoundService("acme", "echo", "wan-1", Scope.Wan, "edge.acme.echo"),
            ],
            found);

        var osOnly = await discovery.DiscoverAsync("*", "echo*", Scope.OS, TimeSpan.Zero, TestContext.Current.CancellationToken);
        Assert.Equal(["acme/echo", "other/echo"], osOnly.Select(static f => $"{f.Publisher}/{f.Service}"));

        var lanAndWan = await discovery.DiscoverAsync("acme", "echo", Scope.Lan | Scope.Wan, TimeSpan.Zero, TestContext.Current.CancellationToken);
        Assert.Equal([Scope.Lan, Scope.Lan, Scope.Wan], lanAndWan.Select(static f => f.Scope));
    }

    [Fact]
    public async Task Lan_and_wan_answers_are_cached_until_they_expire()
    {
        _lan.Answer("acme", "echo", "lan-1", "http://192.0.2.7:80/");
        _wan.Answer("acme", "echo", "wan-1", "edge.acme.echo");
        var discovery = Create(new DiscoveryOptions { CacheTtl = TimeSpan.FromSeconds(15) });
        var ct = TestContext.Current.CancellationToken;

        await discovery.DiscoverAsync("acme", "echo", Scope.All, TimeSpan.Zero, ct);
        _time.Advance(TimeSpan.FromSeconds(14));
        var cached = await discovery.DiscoverAsync("acme", "echo", Scope.All, TimeSpan.Zero, ct);
        Assert.Equal((1, 1), (_lan.Calls, _wan.Calls));
        Assert.Equal(2, cached.Count);

        _lan.Clear();
        _time.Advance(TimeSpan.FromSeconds(2));
        var fresh = await discovery.DiscoverAsync("acme", "echo", Scope.All, TimeSpan.Zero, ct);
        Assert.Equal((2, 2), (_lan.Calls, _wan.Calls));
        Assert.Equal([Scope.Wan], fresh.Select(static f => f.Scope));

        // Nothing found is not cached: the next look asks again.
        await discovery.DiscoverAsync("acme", "echo", Scope.Lan, TimeSpan.Zero, ct);
        Assert.Equal(3, _lan.Calls);
    }

    [Fact]
    public async Task The_cache_starts_over_past_its_limit()
    {
        var discovery = Create(new DiscoveryOptions { CacheLimit = 3 });
        for (var i = 0; i < 3; i++)
        {
            _wan.Answer("acme", $"s{i}", "wan-1", $"edge.acme.s{i}");
            await discovery.DiscoverAsync("acme", $"s{i}", Scope.Wan, TimeSpan.Zero, TestContext.Current.CancellationToken);
        }

        Assert.Equal(3, discovery.CachedQueries);
        _wan.Answer("acme", "s3", "wan-1", "edge.acme.s3");
        await discovery.DiscoverAsync("acme", "s3", Scope.Wan, TimeSpan.Zero, TestContext.Current.CancellationToken);
        Assert.Equal(1, discovery.CachedQueries);
    }

    [Fact]
    public async Task A_timeout_waits_for_a_provider_to_appear_and_zero_does_not_wait()
    {
        var discovery = Create();
        var ct = TestContext.Current.CancellationToken;
        Assert.Empty(await discovery.DiscoverAsync("acme", "late", Scope.All, TimeSpan.Zero, ct));

        var waiting = discovery.DiscoverAsync("acme", "late", Scope.All, TimeSpan.FromSeconds(30), ct);
        await Waits.UntilAsync(() => Task.FromResult(_time.PendingTimers), n => n > 0, "the discovery to wait for its next look");
        Assert.False(waiting.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(1));
        await Waits.UntilAsync(() => Task.FromResult(_lan.Calls), n => n >= 3, "the discovery's second look");
        Assert.False(waiting.IsCompleted);

        _table.Publish(new LocalService("acme", "late", "http://127.0.0.1:7000/", Scope.OS));
        await AdvanceUntilAsync(waiting);
        Assert.Equal("http://127.0.0.1:7000/", Assert.Single(await waiting).Address);
    }

    [Fact]
    public async Task A_timeout_ends_empty_when_nothing_appears()
    {
        var discovery = Create();
        var waiting = discovery.DiscoverAsync("acme", "never", Scope.All, TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        await AdvanceUntilAsync(waiting);
        Assert.Empty(await waiting);
        Assert.True(_wan.Calls is >= 5 and <= 7, $"expected a look about every second for 5 s, saw {_wan.Calls}");
    }

    [Fact]
    public async Task A_bad_pattern_names_the_field()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Create().DiscoverAsync("a_b", "*", Scope.All, TimeSpan.Zero, TestContext.Current.CancellationToken));
        Assert.StartsWith("publisher", e.Message);
    }

    private async Task AdvanceUntilAsync(Task task)
    {
        await Waits.UntilAsync(
            async () =>
            {
                if (_time.PendingTimers > 0)
                {
                    _time.Advance(TimeSpan.FromSeconds(1));
                }

                await Task.Yield();
                return task.IsCompleted;
            },
            done => done,
            "the waiting discovery to end");
    }

    /// <summary>A LAN or WAN scope with set answers that counts how often it is asked.</summary>
    private sealed class CountingScope(Scope scope) : IWanDiscovery
    {
        private readonly List<FoundService> _answers = [];
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public void Answer(string publisher, string service, string provider, string address)
        {
            lock (_answers)
            {
                _answers.Add(new FoundService(publisher, service, provider, scope, address));
            }
        }

        public void Clear()
        {
            lock (_answers)
            {
                _answers.Clear();
            }
        }

        public Task<IReadOnlyList<FoundService>> DiscoverAsync(string publisher, string service, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            lock (_answers)
            {
                return Task.FromResult<IReadOnlyList<FoundService>>(
                    [.. _answers.Where(a => ServiceNames.Matches(publisher, a.Publisher) && ServiceNames.Matches(service, a.Service))]);
            }
        }
    }
}
