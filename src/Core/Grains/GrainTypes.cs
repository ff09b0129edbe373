using System.Collections.Concurrent;

namespace Trellis.Core.Grains;

/// <summary>The grain classes a silo can activate, by type name.</summary>
public sealed class GrainTypes
{
    private readonly ConcurrentDictionary<string, Registration> _types = new(StringComparer.Ordinal);

    /// <summary>The registered type names.</summary>
    public IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)_types.Keys;

    /// <summary>Registers <typeparamref name="TGrain"/> under <paramref name="type"/>.</summary>
    /// <param name="type">The grain type name used in <see cref="GrainId"/>.</param>
    /// <param name="reentrant">When true, turns of one activation may interleave at awaits (calls still start one at a time).</param>
    public GrainTypes Add<TGrain>(string type, bool reentrant = false)
        where TGrain : Grain, new() => Add(type, static _ => new TGrain(), reentrant);

    /// <summary>Registers a factory that builds the grain for an id.</summary>
    public GrainTypes Add(string type, Func<GrainId, Grain> factory, bool reentrant = false)
    {
        ArgumentNullException.ThrowIfNull(factory);
        GrainId.ValidateType(type);
        if (!_types.TryAdd(type, new Registration(factory, reentrant)))
        {
            throw new ArgumentException($"grain type '{type}' is registered already", nameof(type));
        }

        return this;
    }

    /// <summary>True when <paramref name="type"/> is registered.</summary>
    public bool Contains(string type) => _types.ContainsKey(type);

    internal bool TryGet(string type, out Registration registration) => _types.TryGetValue(type, out registration!);

    internal sealed record Registration(Func<GrainId, Grain> Factory, bool Reentrant);
}
