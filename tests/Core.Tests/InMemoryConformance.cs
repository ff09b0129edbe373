using Trellis.Core.Transport;
using Trellis.Core.Transport.InMemory;
using Trellis.TestKit.Messaging;

namespace Trellis.Core.Tests;

/// <summary>The kernel's rules on the in-process transport.</summary>
public sealed class InMemoryConformance : TransportConformance
{
    private readonly InMemoryBroker _broker = new();

    protected override Task<ITransport> ConnectAsync() => Task.FromResult<ITransport>(new InMemoryTransport(_broker));
}
