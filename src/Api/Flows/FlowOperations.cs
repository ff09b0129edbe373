using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Proxy;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Diagnostics;
using Trellis.Core.Errors;
using Trellis.Flows.Broker;
using Trellis.Flows.Graphs;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows;

/// <summary>The operations of the flows API shared by HTTP (<see cref="FlowsApi"/>) and gRPC (<see cref="FlowsGrpcService"/>):
/// authorisation, validation of names and amounts, graph input, and msgflo's send and dump on a queue.</summary>
internal sealed class FlowOperations
{
    /// <summary>The most messages one dump takes.</summary>
    public const int MaxDumpAmount = 10_000;

    /// <summary>The longest a dump waits.</summary>
    public static readonly TimeSpan MaxDumpTimeout = TimeSpan.FromMinutes(10);

    public static readonly TimeSpan DefaultDumpTimeout = TimeSpan.FromSeconds(30);

    private readonly IServiceProvider _services;
    private readonly byte[]? _adminTokenHash;

    public FlowOperations(IServiceProvider services, SecurityOptions security, ProxyOperations proxy)
    {
        _services = services;
        _adminTokenHash = security.AdminTokenHash();
        MaxBodyBytes = proxy.MaxBodyBytes;
    }

    public int MaxBodyBytes { get; }

    /// <summary>The cluster's flows; UNAVAILABLE when this process was composed without them.</summary>
    public IFlowNetworks Networks => _services.GetService<IFlowNetworks>()
        ?? throw new TrellisException(ErrorKind.Unavailable, "flows are not available in this process (no IFlowNetworks registered)");

    public IFlowBroker Broker => _services.GetService<IFlowBroker>()
        ?? throw new TrellisException(ErrorKind.Unavailable, "flows are not available in this process (no flow broker registered)");

    /// <summary>Flows are cluster-wide: only the admin token passes when one is configured (open otherwise, the loopback
    /// development mode the gateway announces at start-up).</summary>
    public void Authorize(HttpRequest request)
    {
        if (_adminTokenHash is null)
        {
            return;
        }

        if (!PresentedToken.Of(request.HttpContext, ProxyApi.BearerToken(request)).Matches(_adminTokenHash))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, "the flows API needs the admin token");
        }
    }

    /// <summary>A graph name: 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', '-', in segments separated by single '/'.</summary>
    public static string GraphName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw TrellisException.Invalid("the graph name is missing (for example default/main)");
        }

        var ok = name.Length <= 200
            && name.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/')
            && name[0] != '/' && name[^1] != '/' && !name.Contains("//", StringComparison.Ordinal);
        return ok
            ? name
            : throw TrellisException.Invalid($"graph name {Quote(name)} is not valid: use 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', '-' in segments separated by '/'");
    }

    /// <summary>A queue name as AMQP allows it (1 to 255 bytes, no control characters).</summary>
    public static string QueueName(string? queue)
    {
        if (string.IsNullOrEmpty(queue))
        {
            throw TrellisException.Invalid("the queue name is missing (for example repeat.IN)");
        }

        return Encoding.UTF8.GetByteCount(queue) <= 255 && !queue.Any(char.IsControl)
            ? queue
            : throw TrellisException.Invalid($"queue name {Quote(queue)} is not valid: 1 to 255 bytes without control characters");
    }

    /// <summary>A graph from .fbp text or a JSON graph; the parser's message (line and column) on bad input.</summary>
    public static FlowGraph ParseGraph(string text, bool json)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw TrellisException.Invalid(json ? "the JSON graph is empty" : "the .fbp graph is empty");
        }

        try
        {
            return json ? FlowGraph.FromJson(text) : FbpParser.Parse(text);
        }
        catch (TrellisException e)
        {
            throw new TrellisException(e.Kind is ErrorKind.InvalidArgument ? e.Kind : ErrorKind.InvalidArgument, $"{(json ? "JSON graph" : ".fbp graph")}: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"JSON graph: {e.Message}");
        }
    }

    public static int DumpAmount(long amount) => amount switch
    {
        0 => 1,
        < 0 or > MaxDumpAmount => throw TrellisException.Invalid($"amount must be 1 to {MaxDumpAmount} (was {amount})"),
        _ => (int)amount,
    };

    /// <summary>A timeout as seconds ("30", "2.5") or with a unit ("500ms", "30s", "2m").</summary>
    public static TimeSpan DumpTimeout(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return DefaultDumpTimeout;
        }

        var (number, scale) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : (text, 1.0);
        if (!double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            throw TrellisException.Invalid($"timeout {Quote(text)} is not a duration: give seconds (30) or a unit (500ms, 30s, 2m)");
        }

        return DumpTimeout(value * scale);
    }

    public static TimeSpan DumpTimeout(double seconds) => seconds switch
    {
        0 => DefaultDumpTimeout,
        _ when double.IsNaN(seconds) || seconds < 0 || seconds > MaxDumpTimeout.TotalSeconds =>
            throw TrellisException.Invalid($"timeout must be more than 0 and at most {MaxDumpTimeout.TotalSeconds} seconds (was {seconds})"),
        _ => TimeSpan.FromSeconds(seconds),
    };

    /// <summary>Sends to a queue that exists (msgflo-send-message, which crashes on a missing queue: we answer NOT_FOUND).</summary>
    public async Task SendAsync(string queue, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var broker = Broker;
        await RequireQueueAsync(broker, queue, cancellationToken);
        using var producer = MessagingTracing.StartPublish(MessagingTracing.SystemOf(broker.Name), queue);
        await broker.SendToQueueAsync(queue, body, MessagingTracing.TraceParentOf(producer) ?? MessagingTracing.CurrentTraceParent, cancellationToken);
    }

    /// <summary>Takes up to <paramref name="amount"/> messages from a queue with prefetch 1, acknowledging each once it is
    /// handed to <paramref name="onMessage"/>; returns false when <paramref name="timeout"/> passed before all came.</summary>
    public async Task<bool> DumpAsync(
        string queue, int amount, TimeSpan timeout, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onMessage, CancellationToken cancellationToken)
    {
        var broker = Broker;
        await RequireQueueAsync(broker, queue, cancellationToken);
        var taken = 0;
        var received = Channel.CreateUnbounded<byte[]>();
        var consumer = await broker.ConsumeAsync(queue, new FlowConsumerOptions(Prefetch: 1), async (delivery, _) =>
        {
            // A delivery past the amount (it may arrive before the consumer is cancelled) goes back to the queue.
            if (Interlocked.Increment(ref taken) > amount)
            {
                await delivery.NackAsync(requeue: true);
                return;
            }

            var copy = delivery.Body.ToArray();
            await delivery.AckAsync();
            received.Writer.TryWrite(copy);
            if (Volatile.Read(ref taken) >= amount)
            {
                received.Writer.TryComplete();
            }
        }, cancellationToken);

        var got = 0;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                while (got < amount && await received.Reader.WaitToReadAsync(deadline.Token))
                {
                    while (got < amount && received.Reader.TryRead(out var message))
                    {
                        got++;
                        await onMessage(message, cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The timeout: what arrived is handed on below.
            }
        }
        finally
        {
            await consumer.DisposeAsync();
        }

        // Acknowledged while the consumer was stopping: taken from the queue, so handed on too.
        while (got < amount && received.Reader.TryRead(out var late))
        {
            got++;
            await onMessage(late, cancellationToken);
        }

        return got >= amount;
    }

    private static async Task RequireQueueAsync(IFlowBroker broker, string queue, CancellationToken cancellationToken)
    {
        if (!await broker.QueueExistsAsync(queue, cancellationToken))
        {
            throw new TrellisException(ErrorKind.NotFound, $"queue {Quote(queue)} does not exist (a participant declares its inqueues when it starts)");
        }
    }

    internal static string Quote(string text) => JsonSerializer.Serialize(text);
}
