using Microsoft.Extensions.Logging;

namespace Trellis.Edge.Services;

/// <summary>How discovery caches and waits.</summary>
public sealed record DiscoveryOptions
{
    /// <summary>How long LAN and WAN answers are reused (adaptiveservice: 15 s).</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Past this many cached queries the cache starts over (adaptiveservice: 1,000).</summary>
    public int CacheLimit { get; init; } = 1000;

    /// <summary>How often a discovery with a timeout looks again while it finds nothing (adaptiveservice: 1 s).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a LAN query collects answers.</summary>
    public TimeSpan LanWindow { get; init; } = LanRegistry.DefaultWindow;
}

/// <summary>Finds the providers of a service in scope order Process → OS → LAN → WAN (adaptiveservice's
/// <c>Discover</c>): all of them, ordered by scope; LAN and WAN answers are cached briefly.</summary>
public sealed partial class Discovery
{
    private readonly string _provider;
    private readonly IServiceTable _table;
    private readonly Func<string, string, CancellationToken, Task<IReadOnlyList<FoundService>>>? _lan;
    private readonly IWanDiscovery? _wan;
    private readonly DiscoveryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<FoundService> _builtins = [];
    private readonly Dictionary<(Scope, string, string), (IReadOnlyList<FoundService> Found, DateTimeOffset Expires)> _cache = [];

    public Discovery(string provider, IServiceTable table, LanRegistry? lan, IWanDiscovery? wan, ILogger logger, DiscoveryOptions? options = null, TimeProvider? time = null)
        : this(provider, table, lan is null ? null : lan.QueryAsync, wan, logger, options, time)
    {
    }

    /// <summary>With the LAN scope as a function (tests).</summary>
    internal Discovery(string provider, IServiceTable table, Func<string, string, CancellationToken, Task<IReadOnlyList<FoundService>>>? lan, IWanDiscovery? wan, ILogger logger, DiscoveryOptions? options = null, TimeProvider? time = null)
    {
        _provider = provider;
        _table = table;
        _lan = lan;
        _wan = wan;
        _logger = logger;
        _options = options ?? new DiscoveryOptions();
        _time = time ?? TimeProvider.System;
    }

    public string Provider => _provider;

    /// <summary>Cached LAN/WAN queries (diagnostics and tests).</summary>
    public int CachedQueries
    {
        get
        {
            lock (_cache)
            {
                return _cache.Count;
            }
        }
    }

    /// <summary>Adds a service of the agent itself (the <see cref="Scope.Process"/> scope).</summary>
    public void AddBuiltin(string publisher, string service, string address)
    {
        lock (_builtins)
        {
            _builtins.Add(new FoundService(publisher, service, _provider, Scope.Process, address));
        }
    }

    /// <summary>The providers matching the patterns in <paramref name="scopes"/>. With <paramref name="timeout"/> &gt; 0
    /// it looks again every <see cref="DiscoveryOptions.CheckInterval"/> until something is found or the time is up
    /// (<see cref="Timeout.InfiniteTimeSpan"/>: until cancelled); 0 looks once.</summary>
    /// <exception cref="ArgumentException">A pattern is not a valid name pattern (the message names it).</exception>
    public async Task<IReadOnlyList<FoundService>> DiscoverAsync(string publisherPattern, string servicePattern, Scope scopes, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if ((ServiceNames.Problem(publisherPattern, "publisher", pattern: true) ?? ServiceNames.Problem(servicePattern, "service", pattern: true)) is { } problem)
        {
            throw new ArgumentException(problem);
        }

        var forever = timeout == Timeout.InfiniteTimeSpan;
        var deadline = _time.GetUtcNow() + (forever || timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout);
        while (true)
        {
            var found = await OnceAsync(publisherPattern, servicePattern, scopes, cancellationToken).ConfigureAwait(false);
            var left = deadline - _time.GetUtcNow();
            if (found.Count > 0 || (!forever && left <= TimeSpan.Zero))
            {
                return found;
            }

            var wait = forever || left > _options.CheckInterval ? _options.CheckInterval : left;
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<List<FoundService>> OnceAsync(string publisher, string service, Scope scopes, CancellationToken cancellationToken)
    {
        var found = new List<FoundService>();
        if ((scopes & Scope.Process) != 0)
        {
            lock (_builtins)
            {
                found.AddRange(_builtins.Where(b => ServiceNames.Matches(publisher, b.Publisher) && ServiceNames.Matches(service, b.Service)));
            }
        }

        if ((scopes & Scope.OS) != 0)
        {
            foreach (var s in _table.Published)
            {
                if ((s.Scopes & Scope.OS) != 0 && ServiceNames.Matches(publisher, s.Publisher) && ServiceNames.Matches(service, s.Service))
                {
                    found.Add(new FoundService(s.Publisher, s.Service, _provider, Scope.OS, s.Url));
                }
            }
        }

        if ((scopes & Scope.Lan) != 0 && _lan is not null)
        {
            found.AddRange(await CachedAsync(Scope.Lan, publisher, service, _lan, cancellationToken).ConfigureAwait(false));
        }

        if ((scopes & Scope.Wan) != 0 && _wan is not null)
        {
            found.AddRange(await CachedAsync(Scope.Wan, publisher, service, _wan.DiscoverAsync, cancellationToken).ConfigureAwait(false));
        }

        return found;
    }

    private async Task<IReadOnlyList<FoundService>> CachedAsync(Scope scope, string publisher, string service, Func<string, string, CancellationToken, Task<IReadOnlyList<FoundService>>> ask, CancellationToken cancellationToken)
    {
        var key = (scope, publisher, service);
        var now = _time.GetUtcNow();
        lock (_cache)
        {
            if (_cache.TryGetValue(key, out var cached))
            {
                if (cached.Expires > now)
                {
                    return cached.Found;
                }

                _cache.Remove(key);
            }
        }

        IReadOnlyList<FoundService> found;
        try
        {
            found = await ask(publisher, service, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogScopeFailed(_logger, ScopeNames.Name(scope), e.Message);
            return [];
        }

        // Only answers are cached: a wait for a service that is not there yet must look again.
        if (found.Count > 0)
        {
            lock (_cache)
            {
                if (_cache.Count >= _options.CacheLimit)
                {
                    _cache.Clear();
                }

                _cache[key] = (found, _time.GetUtcNow() + _options.CacheTtl);
            }
        }

        return found;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Discovery in the {Scope} scope failed: {Reason}")]
    private static partial void LogScopeFailed(ILogger logger, string scope, string reason);
}
