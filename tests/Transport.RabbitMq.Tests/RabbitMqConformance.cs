using Trellis.Core.Transport;
using Trellis.TestKit.Messaging;

namespace Trellis.Transport.RabbitMq.Tests;

/// <summary>The kernel's rules on a real RabbitMQ broker.</summary>
public sealed class RabbitMqConformance : TransportConformance
{
    private static readonly string Prefix = Broker.NewPrefix("conf");

    protected override Task<ITransport> ConnectAsync() => Broker.ConnectAsync(Prefix);
}
