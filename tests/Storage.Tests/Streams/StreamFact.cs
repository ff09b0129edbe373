using Orleans;

namespace Trellis.Storage.Tests.Streams;

/// <summary>An event as a producer numbers it on its stream, stamped with <see cref="System.Diagnostics.Stopwatch"/> time at publish.</summary>
[GenerateSerializer, Immutable]
public sealed record StreamFact([property: Id(0)] long Number, [property: Id(1)] long PublishedAt);
