using Trellis.Flows.Broker;
using Trellis.TestKit.Flows;
using Trellis.Transport.RabbitMq.Flows;

namespace Trellis.Transport.RabbitMq.Tests.Flows;

/// <summary>msgflo's topology on a real RabbitMQ broker.</summary>
public sealed class RabbitMqFlowBrokerConformance : FlowBrokerConformance
{
    protected override IFlowBroker CreateBroker() => new RabbitMqFlowBroker(new RabbitMqOptions { Uri = Broker.Uri, ConnectionName = "test flows" });
}
