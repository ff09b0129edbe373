using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Trellis.Core.Errors;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>A long-lived publishing channel that is opened again if the broker closes it while the
/// connection stays up (a channel error, which automatic recovery does not repair), with state of the
/// caller's that lives exactly as long as each channel it opens. Closing the connection closes it.</summary>
/// <remarks>RabbitMQ.Client 7 serialises publishes on a channel itself (with confirms, under its confirm
/// lock, waiting for the confirm outside it), so callers may publish concurrently.</remarks>
internal sealed partial class PublisherChannel<TState>
    where TState : class
{
    private readonly IConnection _connection;
    private readonly CreateChannelOptions _options;
    private readonly Func<IChannel, CancellationToken, Task<TState?>>? _setup;
    private readonly string _name;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _reopening = new(1, 1);
    private Opened _current;

    private PublisherChannel(
        IConnection connection, CreateChannelOptions options, Func<IChannel, CancellationToken, Task<TState?>>? setup, string name, ILogger logger, Opened current)
    {
        _connection = connection;
        _options = options;
        _setup = setup;
        _name = name;
        _logger = logger;
        _current = current;
    }

    /// <summary>Opens the channel and runs <paramref name="setup"/> on it (again on every reopen); what
    /// setup returns comes with the channel from <see cref="GetAsync"/>.</summary>
    public static async Task<PublisherChannel<TState>> OpenAsync(
        IConnection connection,
        CreateChannelOptions options,
        Func<IChannel, CancellationToken, Task<TState?>>? setup,
        string name,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var current = await OpenChannelAsync(connection, options, setup, cancellationToken).ConfigureAwait(false);
        return new PublisherChannel<TState>(connection, options, setup, name, logger, current);
    }

    /// <summary>The open channel and its state; without an allocation unless it has to be opened again.</summary>
    public ValueTask<Opened> GetAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _current);
        return current.Channel.IsOpen ? new ValueTask<Opened>(current) : ReopenAsync(current, cancellationToken);
    }

    private async ValueTask<Opened> ReopenAsync(Opened closed, CancellationToken cancellationToken)
    {
        if (!_connection.IsOpen)
        {
            // Automatic recovery brings the connection and this channel back; until then we cannot publish.
            throw RabbitMqTransport.Unavailable(_connection.CloseReason?.ReplyText ?? "the connection is closed", null);
        }

        await _reopening.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = Volatile.Read(ref _current);
            if (!ReferenceEquals(current, closed) && current.Channel.IsOpen)
            {
                return current;
            }

            var reason = closed.Channel.CloseReason;
            LogReopening(_logger, _name, reason?.ReplyCode ?? 0, reason?.ReplyText ?? "");
            Opened fresh;
            try
            {
                fresh = await OpenChannelAsync(_connection, _options, _setup, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationInterruptedException or IOException)
            {
                throw RabbitMqTransport.Unavailable(e.Message, e);
            }

            Volatile.Write(ref _current, fresh);

            // Disposing also drops it from the connection's recovery list, so it is not brought back.
            await closed.Channel.DisposeAsync().ConfigureAwait(false);
            return fresh;
        }
        finally
        {
            _reopening.Release();
        }
    }

    private static async Task<Opened> OpenChannelAsync(
        IConnection connection, CreateChannelOptions options, Func<IChannel, CancellationToken, Task<TState?>>? setup, CancellationToken cancellationToken)
    {
        var channel = await connection.CreateChannelAsync(options, cancellationToken).ConfigureAwait(false);
        try
        {
            var state = setup is null ? null : await setup(channel, cancellationToken).ConfigureAwait(false);
            return new Opened(channel, state);
        }
        catch
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The broker closed the {Channel} channel ({Code} {Reason}); opening it again")]
    private static partial void LogReopening(ILogger logger, string channel, int code, string reason);

    /// <summary>A channel with the state its setup made for it.</summary>
    public sealed record Opened(IChannel Channel, TState? State);
}
