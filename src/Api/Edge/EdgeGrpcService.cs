using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Trellis.Api.Edge.Link;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;
using Trellis.Grains.Devices;
using V1 = Trellis.Contracts.V1;

namespace Trellis.Api.Edge;

/// <summary>The edge API as the gRPC service <c>trellis.v1.Edge</c> (protos/trellis/v1/edge.proto): the device link
/// (served by <see cref="EdgeLinks"/>) and the operations of <see cref="EdgeApi"/> with protobuf messages.</summary>
internal sealed class EdgeGrpcService(EdgeOperations operations, EdgeBuilds builds, EdgeLinks links) : V1.Edge.EdgeBase
{
    public override Task Link(IAsyncStreamReader<DeviceMessage> requestStream, IServerStreamWriter<LinkMessage> responseStream, ServerCallContext context) =>
        links.RunAsync(requestStream, responseStream, context);

    public override async Task<DeviceList> ListDevices(ListDevicesRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var list = new DeviceList();
        list.Devices.Add((await operations.ListAsync()).Select(ToDevice));
        return list;
    }

    public override async Task<Device> GetDevice(DeviceRef request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        return ToDevice(await operations.GetAsync(request.Provider));
    }

    public override async Task<DeviceToken> IssueToken(IssueTokenRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var (token, grant) = await operations.IssueTokenAsync(request.Provider, request.Grant);
        var result = new DeviceToken { Provider = request.Provider, Token = token };
        result.Grant.Add(grant);
        return result;
    }

    public override async Task<Device> RevokeToken(DeviceRef request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        return ToDevice(await operations.RevokeTokenAsync(request.Provider, context.CancellationToken));
    }

    public override async Task<EdgeServiceList> Discover(DiscoverRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var list = new EdgeServiceList();
        list.Services.Add((await operations.DiscoverAsync(request.Publisher, request.Service)).Select(ToService));
        return list;
    }

    public override async Task<CommandResult> Command(DeviceCommand request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        EdgeOperations.Provider(request.Provider);
        var priority = request.Priority switch
        {
            V1.Priority.High => "high",
            V1.Priority.Low => "low",
            V1.Priority.Normal => "normal",
            _ => throw TrellisException.Invalid($"priority {(int)request.Priority} is not PRIORITY_HIGH, PRIORITY_NORMAL or PRIORITY_LOW"),
        };
        var command = EdgeOperations.Command(request.Method, request.Path, ProtoJson.ToPayload(request.Body, "body"), priority, request.Timeout);
        var (status, body) = await operations.CommandAsync(request.Provider, command, context.CancellationToken);
        return new CommandResult
        {
            CorrelationId = request.CorrelationId,
            Status = status,
            Body = body.ValueKind == System.Text.Json.JsonValueKind.Undefined ? Value.ForNull() : ProtoJson.ToValue(body),
        };
    }

    public override Task<BuildList> ListBuilds(ListBuildsRequest request, ServerCallContext context)
    {
        operations.Authorize(context.GetHttpContext().Request);
        var list = new BuildList();
        list.Builds.Add(builds.List());
        return Task.FromResult(list);
    }

    internal static Device ToDevice(DeviceRecord d)
    {
        var device = new Device
        {
            Provider = d.Provider,
            Status = d.Online ? "online" : "offline",
            LastSeen = d.LastSeen is { } seen ? Timestamp.FromDateTimeOffset(seen) : null,
            ConnectedAt = d.ConnectedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
            Version = d.Hello?.Version ?? "",
            Arch = d.Hello?.Arch ?? "",
            Hostname = d.Hello?.Hostname ?? "",
            HasToken = d.HasToken,
            AutoUpdate = d.Hello?.AutoUpdate ?? false,
        };
        device.Services.Add(d.Services.Select(s => ToService(new EdgeServiceEntry(s.Publisher, s.Service, d.Provider))));
        device.Jobs.Add(d.Jobs.Select(static j => new EdgeJob
        {
            Id = j.Id,
            Name = j.Name,
            Group = j.Group,
            StartAt = j.StartAt is { } start ? Timestamp.FromDateTimeOffset(start) : null,
            Status = j.Status,
            Restarts = j.Restarts,
        }));
        device.Grant.Add(d.Grant);
        return device;
    }

    private static EdgeService ToService(EdgeServiceEntry s) => new() { Publisher = s.Publisher, Service = s.Service, Provider = s.Provider, Topic = s.Topic };
}
