using Microsoft.Extensions.Logging;

namespace Trellis.Flows.Broker.InMemory;

/// <summary>A tap: a private queue bound to an exchange, read by one loop that hands each message to the handler in
/// order. A tap that falls behind by a full queue loses messages rather than slowing the publishers.</summary>
internal sealed partial class MemoryFlowTap : IAsyncDisposable
{
    private readonly InMemoryFlowBroker _owner;
    private readonly FlowTapHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public MemoryFlowTap(InMemoryFlowBroker owner, MemoryFlowExchange exchange, MemoryFlowQueue queue, FlowTapHandler handler)
    {
        _owner = owner;
        Exchange = exchange;
        Queue = queue;
        _handler = handler;
    }

    public MemoryFlowExchange Exchange { get; }

    public MemoryFlowQueue Queue { get; }

    public void Start() => _loop = Task.Run(RunAsync);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _owner.Forget(this);
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var reader = Queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    try
                    {
                        await _handler(item.Message.Exchange, item.Message.Body, token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (token.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception e)
                    {
                        LogHandlerFailed(_owner.Logger, e, Exchange.Name);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Tap handler on exchange {Exchange} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string exchange);
}
