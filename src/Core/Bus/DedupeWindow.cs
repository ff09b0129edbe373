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
