using System.Collections.Concurrent;

namespace Trellis.Core.Diagnostics;

/// <summary>The span names <c>{operation} {target}</c> of one operation (<c>process orders.new</c>), cached by target so
/// that a busy topic's or route's spans share one string; past <see cref="Max"/> targets the rest are made as they come.</summary>
/// <remarks>One cache per operation keeps the lookup to one string key, hashed once.</remarks>
public sealed class SpanNames(string operation)
{
    /// <summary>Targets kept per operation.</summary>
    public const int Max = 4096;

    private readonly ConcurrentDictionary<string, string> _names = new();
    private int _count;

    /// <summary>The operation these names start with.</summary>
    public string Operation { get; } = operation;

    /// <summary>The span name <c>{operation} {target}</c>.</summary>
    public string Of(string target)
    {
        if (_names.TryGetValue(target, out var name))
        {
            return name;
        }

        name = Operation + " " + target;
        if (Volatile.Read(ref _count) < Max && _names.TryAdd(target, name))
        {
            Interlocked.Increment(ref _count);
        }

        return name;
    }
}
