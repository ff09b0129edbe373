using System.Text.Json;
using Trellis.Core.Messaging;

namespace Trellis.Core.Grains;

/// <summary>A grain with durable state of type <typeparamref name="TState"/>, read before activation and written on demand.</summary>
/// <remarks>
/// State is stored as JSON through the runtime's <see cref="Persistence.IGrainStorage"/>. Every write carries the
/// version it expects and the epoch of the shard lease, so a write from a silo that lost the shard is refused
/// (<see cref="Persistence.StaleEpochException"/>) and the call that made it is handed to the new owner. A write
/// completes only when the state is durable.
/// </remarks>
public abstract class Grain<TState> : Grain
    where TState : class, new()
{
    private TState _state = new();

    /// <summary>The state; change it, then call <see cref="WriteStateAsync"/> to make it durable.</summary>
    protected TState State
    {
        get => _state;
        set => _state = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The stored version of the state: 0 when it was never written, then one more per write or clear.</summary>
    protected long StateVersion { get; private set; }

    /// <summary>True when stored state exists (it was written and not cleared).</summary>
    protected bool StateExists { get; private set; }

    /// <summary>How state is serialised; override for custom converters.</summary>
    protected virtual JsonSerializerOptions StateSerializerOptions => JsonDefaults.Options;

    /// <summary>Writes the state and waits until it is durable.</summary>
    protected async Task WriteStateAsync(CancellationToken cancellationToken = default)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(_state, StateSerializerOptions);
        StateVersion = await Activation.WriteStateAsync(bytes, StateVersion, cancellationToken).ConfigureAwait(false);
        StateExists = true;
    }

    /// <summary>Deletes the stored state and resets <see cref="State"/> to a new instance.</summary>
    protected async Task ClearStateAsync(CancellationToken cancellationToken = default)
    {
        StateVersion = await Activation.ClearStateAsync(StateVersion, cancellationToken).ConfigureAwait(false);
        StateExists = false;
        _state = new TState();
    }

    internal override async Task LoadStateAsync(CancellationToken cancellationToken)
    {
        var stored = await Activation.ReadStateAsync(cancellationToken).ConfigureAwait(false);
        StateVersion = stored.Version;
        StateExists = stored.Exists;
        _state = stored.Data is { } data ? JsonSerializer.Deserialize<TState>(data, StateSerializerOptions) ?? new TState() : new TState();
    }
}
