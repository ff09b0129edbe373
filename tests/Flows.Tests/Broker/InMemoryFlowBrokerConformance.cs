using Trellis.Flows.Broker;
using Trellis.Flows.Broker.InMemory;
using Trellis.TestKit.Flows;

namespace Trellis.Flows.Tests.Broker;

/// <summary>msgflo's topology in process.</summary>
public sealed class InMemoryFlowBrokerConformance : FlowBrokerConformance
{
    protected override IFlowBroker CreateBroker() => new InMemoryFlowBroker();
}
