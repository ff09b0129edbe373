using System.Threading.Channels;
using Grpc.Health.V1;
using Trellis.Grpc.Server;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Trellis.Grpc.Health;

/// <summary>grpc.health.v1.Health (Check and Watch) with a serving status per service name; "" is the whole server.</summary>
public sealed class HealthService
{
    /// <summary>grpc.health.v1.Health/Check.</summary>
    public static readonly GrpcMethod<HealthCheckRequest, HealthCheckResponse> CheckMethod =
        GrpcMethod<HealthCheckRequest, HealthCheckResponse>.FromDescriptor(HealthReflection.Descriptor.Services[0].FindMethodByName("Check"));

    /// <summary>grpc.health.v1.Health/Watch.</summary>
    public static readonly GrpcMethod<HealthCheckRequest, HealthCheckResponse> WatchMethod =
        GrpcMethod<HealthCheckRequest, HealthCheckResponse>.FromDescriptor(HealthReflection.Descriptor.Services[0].FindMethodByName("Watch"));

    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Channel<ServingStatus>>> _watchers = new(StringComparer.Ordinal);
    private bool _terminal;

    /// <summary>Starts with the whole server ("") SERVING, as gRPC servers do by default.</summary>
    public HealthService()
    {
        _statuses[string.Empty] = ServingStatus.Serving;
        Definition = new GrpcServiceBuilder(HealthReflection.Descriptor.Services[0])
            .AddUnary(CheckMethod, CheckAsync)
            .AddServerStreaming(WatchMethod, WatchAsync)
            .Build();
    }

    /// <summary>The service to pass to MapGrpcService.</summary>
    public GrpcServiceDefinition Definition { get; }

    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            if (_terminal)
            {
                return;
            }

            _statuses[service] = status;
            Notify(service, status);
        }
    }

    /// <summary>Forgets a service: Check then answers NOT_FOUND and watchers see SERVICE_UNKNOWN.</summary>
    public void ClearStatus(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            if (!_terminal && _statuses.Remove(service))
            {
                Notify(service, ServingStatus.ServiceUnknown);
            }
        }
    }

    /// <summary>Marks every service NOT_SERVING and ignores later changes (for shutdown, so load balancers drain first).</summary>
    public void EnterTerminalState()
    {
        lock (_lock)
        {
            _terminal = true;
            foreach (var service in _statuses.Keys.ToList())
            {
                _statuses[service] = ServingStatus.NotServing;
                Notify(service, ServingStatus.NotServing);
            }
        }
    }

    public ServingStatus? GetStatus(string service)
    {
        lock (_lock)
        {
            return _statuses.TryGetValue(service, out var status) ? status : null;
        }
    }

    private Task<HealthCheckResponse> CheckAsync(HealthCheckRequest request, ServerCallContext context)
    {
        var status = GetStatus(request.Service)
            ?? throw new GrpcException(StatusCode.NotFound, $"Service '{request.Service}' is unknown.");
        return Task.FromResult(new HealthCheckResponse { Status = status });
    }

    private async Task WatchAsync(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        // Only the latest status matters to a watcher, so a slow one sees the newest value, never a backlog.
        var updates = Channel.CreateBounded<ServingStatus>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });

        ServingStatus current;
        lock (_lock)
        {
            current = _statuses.TryGetValue(request.Service, out var status) ? status : ServingStatus.ServiceUnknown;
            if (!_watchers.TryGetValue(request.Service, out var list))
            {
                _watchers[request.Service] = list = [];
            }

            list.Add(updates);
        }

        try
        {
            await responses.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken).ConfigureAwait(false);
            var last = current;
            while (await updates.Reader.WaitToReadAsync(context.CancellationToken).ConfigureAwait(false))
            {
                while (updates.Reader.TryRead(out var next))
                {
                    if (next != last)
                    {
                        last = next;
                        await responses.WriteAsync(new HealthCheckResponse { Status = next }, context.CancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // A watch ends when the client leaves; that is not an error.
        }
        finally
        {
            lock (_lock)
            {
                if (_watchers.TryGetValue(request.Service, out var list))
                {
                    list.Remove(updates);
                    if (list.Count == 0)
                    {
                        _watchers.Remove(request.Service);
                    }
                }
            }
        }
    }

    private void Notify(string service, ServingStatus status)
    {
        if (_watchers.TryGetValue(service, out var list))
        {
            foreach (var watcher in list)
            {
                watcher.Writer.TryWrite(status);
            }
        }
    }
}
