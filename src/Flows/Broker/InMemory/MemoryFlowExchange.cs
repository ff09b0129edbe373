namespace Trellis.Flows.Broker.InMemory;

internal enum MemoryExchangeType
{
    Fanout,
    Direct,
}

/// <summary>An exchange and its bindings. The bindings are an array replaced (under the broker's topology lock) on
/// every change, so routing reads them without a lock.</summary>
internal sealed class MemoryFlowExchange(string name, MemoryExchangeType type, bool persistent)
{
    private MemoryBinding[] _bindings = [];

    public string Name { get; } = name;

    public MemoryExchangeType Type { get; } = type;

    /// <summary>Durable and kept; a non-persistent exchange is deleted when its last binding goes.</summary>
    public bool Persistent { get; } = persistent;

    public bool Deleted { get; set; }

    public MemoryBinding[] Bindings => Volatile.Read(ref _bindings);

    /// <summary>Adds the binding unless it is there (true when added).</summary>
    public bool Add(MemoryBinding binding)
    {
        var current = Bindings;
        if (Array.IndexOf(current, binding) >= 0)
        {
            return false;
        }

        Volatile.Write(ref _bindings, [.. current, binding]);
        return true;
    }

    /// <summary>Removes every binding matching <paramref name="match"/> (true when one was removed).</summary>
    public bool RemoveWhere(Func<MemoryBinding, bool> match)
    {
        var current = Bindings;
        var kept = Array.FindAll(current, b => !match(b));
        if (kept.Length == current.Length)
        {
            return false;
        }

        Volatile.Write(ref _bindings, kept);
        return true;
    }
}

/// <summary>A binding to a queue or to another exchange, with its routing key (which only a direct exchange compares).</summary>
internal readonly record struct MemoryBinding(object Destination, string Key);
