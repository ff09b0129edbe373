using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;
using Trellis.Flows.Graphs;
using V1 = Trellis.Contracts.V1;

namespace Trellis.Api.Flows;

/// <summary>The flows API as the gRPC service <c>trellis.v1.Flows</c> (protos/trellis/v1/flows.proto): the operations of
/// <see cref="FlowsApi"/> with protobuf messages, a dump as a server stream.</summary>
internal sealed class FlowsGrpcService(FlowOperations operations) : V1.Flows.FlowsBase
{
    public override async Task<ParticipantList> ListParticipants(ListParticipantsRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var list = new ParticipantList();
        foreach (var p in await operations.Networks.ListParticipantsAsync(context.CancellationToken))
        {
            var d = p.Definition;
            var participant = new Participant
            {
                Id = d.Id,
                Role = d.Role,
                Component = d.Component,
                Label = d.Label ?? "",
                Icon = d.Icon ?? "",
                FirstSeen = Timestamp.FromDateTimeOffset(p.FirstSeen),
                LastSeen = Timestamp.FromDateTimeOffset(p.LastSeen),
                Status = Internal.FlowsJson.Status(p.Status),
            };
            participant.Inports.Add(d.Inports.Select(Port));
            participant.Outports.Add(d.Outports.Select(Port));
            list.Participants.Add(participant);
        }

        return list;
    }

    public override async Task<GraphList> ListGraphs(ListGraphsRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var list = new GraphList();
        list.Names.Add(await operations.Networks.ListGraphsAsync(context.CancellationToken));
        return list;
    }

    public override async Task<V1.Graph> GetGraph(GraphRef request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var name = FlowOperations.GraphName(request.Name);
        var graph = await operations.Networks.GetGraphAsync(name, context.CancellationToken);
        return new V1.Graph { Name = name, Graph_ = ToStruct(graph) };
    }

    public override async Task<V1.FlowSetup> SetGraph(SetGraphRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var name = FlowOperations.GraphName(request.Name);
        var graph = request.DefinitionCase switch
        {
            SetGraphRequest.DefinitionOneofCase.Fbp => FlowOperations.ParseGraph(request.Fbp, json: false),
            SetGraphRequest.DefinitionOneofCase.Graph => FlowOperations.ParseGraph(
                ProtoJson.ToPayload(Value.ForStruct(request.Graph), "graph").ToString(), json: true),
            _ => throw TrellisException.Invalid("give the graph as fbp (.fbp text) or graph (a JSON graph)"),
        };
        return Setup(await operations.Networks.SetGraphAsync(name, graph, context.CancellationToken));
    }

    public override async Task<V1.FlowSetup> GetSetup(GraphRef request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        return Setup(await operations.Networks.GetSetupAsync(FlowOperations.GraphName(request.Name), context.CancellationToken));
    }

    public override async Task<V1.FlowSetup> ClearGraph(GraphRef request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var name = FlowOperations.GraphName(request.Name);
        return Setup(await operations.Networks.SetGraphAsync(name, new FlowGraph(), context.CancellationToken));
    }

    public override async Task<SendMessageResponse> SendMessage(SendMessageRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var queue = FlowOperations.QueueName(request.Queue);
        var payload = ProtoJson.ToPayload(request.Data, "data");
        await operations.SendAsync(queue, payload.IsNull ? "null"u8.ToArray() : payload.Utf8, context.CancellationToken);
        return new SendMessageResponse { Queue = queue };
    }

    public override async Task DumpMessages(DumpMessagesRequest request, IServerStreamWriter<DumpedMessage> responseStream, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var queue = FlowOperations.QueueName(request.Queue);
        var amount = FlowOperations.DumpAmount(request.Amount);
        var timeout = FlowOperations.DumpTimeout(request.Timeout);
        var got = 0;
        var complete = await operations.DumpAsync(queue, amount, timeout, async (body, ct) =>
        {
            got++;
            await responseStream.WriteAsync(new DumpedMessage { Data = ToValue(body) }, ct);
        }, context.CancellationToken);
        if (!complete)
        {
            throw new TrellisException(ErrorKind.DeadlineExceeded, $"got {got} of {amount} messages from queue {FlowOperations.Quote(queue)} within {timeout.TotalSeconds}s");
        }
    }

    private static V1.ParticipantPort Port(Trellis.Flows.Discovery.ParticipantPort p) => new()
    {
        Id = p.Id,
        Queue = p.Queue ?? "",
        Type = p.Type ?? "",
        Description = p.Description ?? "",
    };

    private static Struct ToStruct(FlowGraph graph)
    {
        using var doc = JsonDocument.Parse(graph.ToJson(indented: false));
        return ProtoJson.ToValue(doc.RootElement).StructValue;
    }

    private static Value ToValue(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return ProtoJson.ToValue(doc.RootElement);
        }
        catch (JsonException)
        {
            return Value.ForString(System.Text.Encoding.UTF8.GetString(body.Span));
        }
    }

    internal static V1.FlowSetup Setup(Trellis.Flows.Networks.FlowSetup setup)
    {
        var result = new V1.FlowSetup();
        foreach (var b in setup.Bindings)
        {
            result.Bindings.Add(new V1.FlowBinding
            {
                Type = Internal.FlowsJson.BindingType(b.Kind),
                Src = b.Source ?? "",
                Tgt = b.Target ?? "",
                Deadletter = b.DeadLetter ?? "",
            });
            result.Lines.Add(b.Describe());
        }

        result.Pending.Add(setup.Pending);
        result.Problems.Add(setup.Problems);
        return result;
    }
}
