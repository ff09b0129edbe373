using Trellis.Flows.Broker;

namespace Trellis.Grains.Flows.Internal;

/// <summary>How a <see cref="FlowBinding"/> travels between grains and is stored.</summary>
[GenerateSerializer]
public struct FlowBindingSurrogate
{
    [Id(0)]
    public int Kind;

    [Id(1)]
    public string? Source;

    [Id(2)]
    public string? Target;

    [Id(3)]
    public string? DeadLetter;
}

[RegisterConverter]
public sealed class FlowBindingConverter : IConverter<FlowBinding, FlowBindingSurrogate>
{
    public FlowBinding ConvertFromSurrogate(in FlowBindingSurrogate surrogate) =>
        new((FlowBindingKind)surrogate.Kind, surrogate.Source, surrogate.Target, surrogate.DeadLetter);

    public FlowBindingSurrogate ConvertToSurrogate(in FlowBinding value) =>
        new() { Kind = (int)value.Kind, Source = value.Source, Target = value.Target, DeadLetter = value.DeadLetter };
}
