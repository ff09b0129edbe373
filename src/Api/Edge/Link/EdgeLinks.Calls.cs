using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Edge.Internal;
using Trellis.Api.Edge.Link.Internal;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Bus;
using Trellis.Core.Diagnostics;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Topics;
using Trellis.Core.Transport;
using Trellis.Grains.Devices;

namespace Trellis.Api.Edge.Link;

/// <summary>The device's calls into the cluster (within its grant) and its WAN discovery.</summary>
public sealed partial class EdgeLinks
{
    private async Task CallAsync(MessageBus bus, DeviceLink link, string[] grant, ClusterCall call)
    {
        var result = new CallResult { CorrelationId = call.CorrelationId };

        // The call continues the trace of the device program that made it (a new trace when it sent none).
        using var span = MessagingTracing.StartLinked(ActivityKind.Server, "edge.call", call.Topic, call.Traceparent);
        span?.SetTag(TrellisTelemetry.Tags.Provider, link.Provider);
        try
        {
            var message = await CallClusterAsync(bus, link.Provider, grant, call, link.Ended);
            span?.SetTag(TrellisTelemetry.Tags.Code, message.Code);
            result.Code = message.Code;
            result.Data = ProtoJson.ToValue(message.Data);
        }
        catch (TrellisException e)
        {
            result.Code = e.Kind == ErrorKind.InvalidArgument ? Codes.BadRequest : Codes.HandlerError;
            result.Data = Value.ForString(e.Message);
        }
        catch (OperationCanceledException) when (link.Ended.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            LogCallFailed(_logger, e, link.Provider, call.Topic);
            result.Code = Codes.HandlerError;
            result.Data = Value.ForString($"the call of {call.Topic} failed in the gateway; its log has the details");
        }

        link.TrySend(new LinkMessage { CallResult = result });
    }

    private async Task<Message> CallClusterAsync(MessageBus bus, string provider, string[] grant, ClusterCall call, CancellationToken cancellationToken)
    {
        var topic = call.Topic;
        if (topic.Length == 0)
        {
            return Message.Error(Codes.BadRequest, "call.topic is empty");
        }

        if (topic.StartsWith("edge._", StringComparison.Ordinal) || !Array.Exists(grant, g => Glob.IsMatch(g, topic)))
        {
            return Message.Error(403, $"device {provider} may not call {topic}: its grant is [{string.Join(", ", grant)}]");
        }

        var data = ProtoJson.ToPayload(call.Data, "call.data");
        if (call.Signal)
        {
            var status = await bus.SignalAsync(topic, data, cancellationToken);
            return status switch
            {
                PublishStatus.Unroutable => Message.Error(Codes.NotFound, $"no slot subscribes {topic}"),
                PublishStatus.QueueFull => Message.Error(Codes.QueueFull, $"a slot's queue for {topic} is full"),
                _ => Message.Ok(JsonPayload.Parse("{\"status\":\"published\"}")),
            };
        }

        var timeout = call.Timeout > 0 && double.IsFinite(call.Timeout) ? TimeSpan.FromSeconds(Math.Min(call.Timeout, 3600)) : (TimeSpan?)null;
        return await bus.RequestAsync(topic, data, timeout, cancellationToken);
    }

    private async Task DiscoverAsync(DeviceLink link, DiscoverCall call)
    {
        var result = new DiscoverResult { CorrelationId = call.CorrelationId };
        try
        {
            result.Services.AddRange(await DiscoverAsync(call.Publisher, call.Service));
        }
        catch (Exception e)
        {
            LogDiscoverFailed(_logger, e, link.Provider);
        }

        link.TrySend(new LinkMessage { Discovered = result });
    }

    /// <summary>The WAN scope: services of online devices whose names match the (wildcard) patterns; empty means '*'.</summary>
    public async Task<IReadOnlyList<EdgeService>> DiscoverAsync(string publisher, string service)
    {
        var publisherPattern = publisher.Length == 0 ? "*" : publisher;
        var servicePattern = service.Length == 0 ? "*" : service;
        var found = await DeviceDirectory.DiscoverAsync(_grains, publisherPattern, servicePattern);
        return [.. found.Select(static e => new EdgeService { Publisher = e.Publisher, Service = e.Service, Provider = e.Provider, Topic = e.Topic })];
    }
}
