using Trellis.Contracts.V1;
using Trellis.Edge.Services;

namespace Trellis.Edge.Link;

/// <summary>The device's calls into the cluster and its WAN discovery, through the link.</summary>
public sealed partial class EdgeLink
{
    /// <summary>Calls (or signals) a cluster topic through the link; 503 when the link is not up.</summary>
    public Task<CallResult> CallAsync(string topic, Google.Protobuf.WellKnownTypes.Value data, TimeSpan? timeout, bool signal, CancellationToken cancellationToken) =>
        CallAsync(topic, data, timeout, signal, traceParent: null, cancellationToken);

    /// <summary>Calls (or signals) a cluster topic through the link, continuing the caller's trace
    /// (<paramref name="traceParent"/>, its W3C <c>traceparent</c> header); 503 when the link is not up.</summary>
    public async Task<CallResult> CallAsync(
        string topic, Google.Protobuf.WellKnownTypes.Value data, TimeSpan? timeout, bool signal, string? traceParent, CancellationToken cancellationToken)
    {
        var id = NextId();
        var call = new ClusterCall
        {
            CorrelationId = id, Topic = topic, Data = data, Timeout = timeout?.TotalSeconds ?? 0, Signal = signal, Traceparent = traceParent ?? "",
        };
        var message = new DeviceMessage { Call = call };
        if (Welcome is { MaxMessageBytes: > 0 } welcome && message.CalculateSize() > welcome.MaxMessageBytes)
        {
            return Failed(413, $"the data is larger than the gateway's limit of {welcome.MaxMessageBytes} bytes per message");
        }

        var result = new TaskCompletionSource<CallResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _calls[id] = result;
        try
        {
            if (!await TrySendAsync(message))
            {
                return Failed(503, NoLink);
            }

            var wait = (timeout ?? DefaultTimeout) + TimeSpan.FromSeconds(5);
            return await result.Task.WaitAsync(wait, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            return Failed(504, $"the cluster did not answer the call of {topic} in time");
        }
        finally
        {
            _calls.TryRemove(id, out _);
        }
    }

    /// <summary>The WAN scope of discovery: online devices' services as the cluster knows them; empty when the link is down.</summary>
    public async Task<IReadOnlyList<FoundService>> DiscoverAsync(string publisher, string service, CancellationToken cancellationToken)
    {
        var id = NextId();
        var result = new TaskCompletionSource<DiscoverResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _discoveries[id] = result;
        try
        {
            if (!await TrySendAsync(new DeviceMessage { Discover = new DiscoverCall { CorrelationId = id, Publisher = publisher, Service = service } }))
            {
                return [];
            }

            var found = await result.Task.WaitAsync(DefaultTimeout, _time, cancellationToken);
            return [.. found.Services.Select(s => new FoundService(s.Publisher, s.Service, s.Provider, Scope.Wan, s.Topic))];
        }
        catch (TimeoutException)
        {
            return [];
        }
        finally
        {
            _discoveries.TryRemove(id, out _);
        }
    }
}
