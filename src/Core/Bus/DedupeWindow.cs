namespace Trellis.Core.Bus;

/// <summary>Remembers the last N message ids handled, to drop redelivered duplicates.</summary>
internal sealed class DedupeWindow(int capacity)
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly Lock _lock = new();

    public bool Contains(string id)
    {
        lock (_lock)
        {
            return _seen.Contains(id);
        }
    }

    /// <summary>Forgets an id; true when it was remembered.</summary>
    public bool Remove(string id)
    {
        lock (_lock)
        {
            // The id stays in the order queue and falls off it later; removing from the set is what counts.
            return _seen.Remove(id);
        }
    }

    public void Add(string id)
    {
        if (capacity == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (!_seen.Add(id))
            {
                return;
            }

            _order.Enqueue(id);
            if (_order.Count > capacity)
            {
                _seen.Remove(_order.Dequeue());
            }
        }
    }
}
