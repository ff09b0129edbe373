using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Trellis.Contracts.V1;
using Trellis.Edge.Activities;

namespace Trellis.Edge.Link;

/// <summary>The activities on the link: their states go up in the hello and whenever one changes; the gateway sends each
/// delivery of an activity's inqueue down (<see cref="ActivityInput"/>) and the device answers with the activity's
/// outputs and an ack per delivery.</summary>
public sealed partial class EdgeLink : IActivityOutlet
{
    private ActivitySet? _sentActivities;

    ValueTask IActivityOutlet.OutputAsync(Guid activityId, string port, ReadOnlyMemory<byte> data, string? deliveryId) =>
        new(TrySendAsync(new DeviceMessage
        {
            ActivityOutput = new ActivityOutput
            {
                ActivityId = activityId.ToString(),
                Port = port,
                Data = ByteString.CopyFrom(data.Span),
                DeliveryId = deliveryId ?? "",
            },
        }));

    ValueTask IActivityOutlet.DoneAsync(Guid activityId, string deliveryId, string? error, bool requeue) =>
        new(TrySendAsync(Done(activityId.ToString(), deliveryId, error, requeue)));

    private void Deliver(ActivityInput input)
    {
        if (Activities is null)
        {
            _ = TrySendAsync(Done(input.ActivityId, input.DeliveryId, "this device hosts no activities", requeue: false));
            return;
        }

        if (!Guid.TryParse(input.ActivityId, out var id) || !Activities.TryDeliver(id, input.DeliveryId, input.Port, input.Data.Memory))
        {
            LogActivityNotRunning(_logger, input.ActivityId, input.Port);
            _ = TrySendAsync(Done(input.ActivityId, input.DeliveryId, $"activity {input.ActivityId} is not running on this device (or has no inport '{input.Port}')", requeue: true));
        }
    }

    private static DeviceMessage Done(string activityId, string deliveryId, string? error, bool requeue) => new()
    {
        ActivityAck = new ActivityAck { ActivityId = activityId, DeliveryId = deliveryId, Error = error ?? "", Requeue = requeue },
    };

    private void OnActivitiesChanged() => _ = SendActivitiesAsync();

    private async Task SendActivitiesAsync()
    {
        if (Activities is null)
        {
            return;
        }

        await _writeLock.WaitAsync();
        try
        {
            var activities = ActivityList()!;
            if (_writer is null || activities.Equals(_sentActivities))
            {
                return;
            }

            await _writer.WriteAsync(new DeviceMessage { Activities = activities }, _writerToken);
            _sentActivities = activities;
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or IOException or InvalidOperationException or OperationCanceledException or ObjectDisposedException)
        {
            // The link went down; the next hello carries the activities.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private ActivitySet? ActivityList()
    {
        if (Activities is null)
        {
            return null;
        }

        var set = new ActivitySet();
        foreach (var (activity, state) in Activities.Activities)
        {
            var wire = new EdgeActivity
            {
                Id = activity.Id.ToString(),
                Name = activity.Name,
                Version = activity.Version,
                State = state.Status,
                Restarts = state.Restarts,
                LastError = state.LastError ?? "",
                Pid = state.Pid ?? 0,
                Manifest = activity.Manifest,
            };
            wire.Tags.AddRange(activity.Tags);
            set.Activities.Add(wire);
        }

        set.Problems.AddRange(Activities.Problems);
        return set;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "A message for activity {Activity} port {Port} went back: it is not running here")]
    private static partial void LogActivityNotRunning(ILogger logger, string activity, string port);
}
