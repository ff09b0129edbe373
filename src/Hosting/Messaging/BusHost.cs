using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Core.Bus;
using Trellis.Core.Transport;

namespace Trellis.Hosting.Messaging;

/// <summary>Starts the process's <see cref="MessageBus"/> with the host and stops it last.</summary>
public sealed class BusHost(Func<ITransport> transportFactory, MessagingOptions options, TimeProvider time, ILoggerFactory loggers)
    : IHostedService, IAsyncDisposable
{
    private readonly TaskCompletionSource<MessageBus> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The bus, once the host has started.</summary>
    public MessageBus Bus => _started.Task.IsCompletedSuccessfully
        ? _started.Task.Result
        : throw new InvalidOperationException("The message bus has not started yet");

    /// <summary>Completes when the bus is running.</summary>
    public Task<MessageBus> Started => _started.Task;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            _started.TrySetResult(await MessageBus.StartAsync(transportFactory(), options, time, loggers, cancellationToken));
        }
        catch (Exception e)
        {
            _started.TrySetException(e);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();

    public async ValueTask DisposeAsync()
    {
        if (_started.Task.IsCompletedSuccessfully)
        {
            await _started.Task.Result.DisposeAsync();
        }
    }
}
