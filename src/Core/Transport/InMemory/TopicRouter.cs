using System.Collections.Concurrent;
using Trellis.Core.Topics;

namespace Trellis.Core.Transport.InMemory;

/// <summary>A thread-safe <see cref="TopicIndex{T}"/> with a cache of resolved routes.</summary>
/// <remarks>Lookups of cached topics take no lock. The cache is filled and cleared under the same lock as
/// changes to the index, so it never holds a route older than the last change.</remarks>
internal sealed class TopicRouter<T>
    where T : class
{
    private const int MaxCachedTopics = 16_384;

    private readonly TopicIndex<T> _index = new();
    private readonly ConcurrentDictionary<string, T[]> _cache = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly List<T> _scratch = [];

    public int Count => _index.Count;

    public void Add(string pattern, T item)
    {
        lock (_lock)
        {
            _index.Add(pattern, item);
            _cache.Clear();
        }
    }

    public void Remove(string pattern, T item)
    {
        lock (_lock)
        {
            _index.Remove(pattern, item);
            _cache.Clear();
        }
    }

    public T[] Route(string topic)
    {
        if (_cache.TryGetValue(topic, out var cached))
        {
            return cached;
        }

        lock (_lock)
        {
            var routes = ResolveLocked(topic);
            if (_cache.Count >= MaxCachedTopics)
            {
                _cache.Clear();
            }

            _cache[topic] = routes;
            return routes;
        }
    }

    /// <summary>Resolves without the cache (what the routing benchmark measures).</summary>
    public T[] RouteUncached(string topic)
    {
        lock (_lock)
        {
            return ResolveLocked(topic);
        }
    }

    private T[] ResolveLocked(string topic)
    {
        _scratch.Clear();
        _index.Match(topic, _scratch);
        return _scratch.Count == 0 ? [] : _scratch.ToArray();
    }
}
