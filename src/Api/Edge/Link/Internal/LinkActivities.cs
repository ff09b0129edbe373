using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;
using Trellis.Flows.Activities;
using Trellis.Flows.Broker;
using Trellis.Grains.Activities;

namespace Trellis.Api.Edge.Link.Internal;

/// <summary>The activities a linked device hosts, made MsgFlo participants on the cluster's flow broker exactly as a
/// silo's host makes its own (src/Flows/Activities/Internal/ActivitySupervisor.cs): inports declared as
/// <c>&lt;role&gt;.&lt;PORT&gt;</c> queues and outports as exchanges, the activity announced on <c>fbp</c> as
/// <c>&lt;role&gt;-&lt;provider&gt;</c>, its inqueues consumed while it runs on the device (a prefetch of
/// <see cref="EdgeLinkOptions.ActivityPrefetch"/> per inport) and each delivery sent down the link; the device's outputs
/// are published on the outport exchanges and its acks settle the deliveries. States go to the activity grains with the
/// device's provider id as the host.</summary>
internal sealed partial class LinkActivities
{
    private static readonly HashSet<string> States = new(StringComparer.Ordinal) { "starting", "running", "restarting", "stopped" };

    private readonly DeviceLink _link;
    private readonly IFlowBroker? _broker;
    private readonly IGrainFactory _grains;
    private readonly EdgeLinkOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _announceEvery = new ActivityHostOptions().DiscoveryPeriod / 2.2;
    private readonly ConcurrentDictionary<Guid, LinkedActivity> _activities = new();
    private readonly ConcurrentDictionary<string, Pending> _deliveries = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private readonly string _prefix;
    private HashSet<string> _problems = new(StringComparer.Ordinal);
    private Task _reporting = Task.CompletedTask;
    private long _next;
    private bool _warnedNoBroker;

    public LinkActivities(DeviceLink link, IFlowBroker? broker, IGrainFactory grains, EdgeLinkOptions options, TimeProvider time, ILogger logger)
    {
        _link = link;
        _broker = broker;
        _grains = grains;
        _options = options;
        _time = time;
        _logger = logger;
        _prefix = link.LinkId[..Math.Min(8, link.LinkId.Length)] + "-";
    }

    private string Provider => _link.Provider;

    /// <summary>Takes the device's complete set of activities (from its hello, or sent when one changed).</summary>
    public async Task UpdateAsync(ActivitySet set)
    {
        await _lock.WaitAsync();
        try
        {
            if (_closing.IsCancellationRequested)
            {
                return;
            }

            var problems = new HashSet<string>(set.Problems, StringComparer.Ordinal);
            foreach (var problem in problems)
            {
                if (!_problems.Contains(problem))
                {
                    LogDeviceProblem(_logger, Provider, Printable(problem, 300));
                }
            }

            _problems = problems;
            var seen = new HashSet<Guid>();
            foreach (var wire in set.Activities)
            {
                if (Read(wire) is not { } read || !seen.Add(read.Manifest.Id))
                {
                    continue;
                }

                var (manifest, state) = read;
                if (_activities.TryGetValue(manifest.Id, out var linked) && !SamePorts(linked.Manifest, manifest))
                {
                    await StopAsync(linked, "the activity's role or ports changed");
                    _activities.TryRemove(manifest.Id, out _);
                    linked = null;
                }

                if (linked is null)
                {
                    linked = new LinkedActivity(manifest);
                    _activities[manifest.Id] = linked;
                    await StartAsync(linked);
                }

                linked.Manifest = manifest;
                linked.ManifestJson = manifest.ToJson().ToJsonString();
                linked.Tags = [.. wire.Tags.Take(64)];
                linked.Wire = state;
                await FollowAsync(linked);
                await ReportAsync(linked, force: false);
            }

            foreach (var linked in _activities.Values)
            {
                if (!seen.Contains(linked.Manifest.Id))
                {
                    await StopAsync(linked, "the device no longer hosts it");
                    _activities.TryRemove(linked.Manifest.Id, out _);
                    var stopped = linked.Wire.Clone();
                    stopped.State = "stopped";
                    stopped.Pid = 0;
                    linked.Wire = stopped;
                    await ReportAsync(linked, force: false);
                }
            }

            if (_reporting.IsCompleted && _options.ActivityReportInterval > TimeSpan.Zero && !_activities.IsEmpty)
            {
                _reporting = ReportLoopAsync(_closing.Token);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Publishes what an activity wrote on an outport to the outport's exchange.</summary>
    public async Task OutputAsync(ActivityOutput output)
    {
        Pending? source = null;
        if (output.DeliveryId.Length > 0)
        {
            _deliveries.TryGetValue(output.DeliveryId, out source);
        }

        if (!Guid.TryParse(output.ActivityId, out var id) || !_activities.TryGetValue(id, out var linked))
        {
            LogUnknownActivity(_logger, Provider, Printable(output.ActivityId, 80), "an output");
            return;
        }

        var manifest = linked.Manifest;
        var port = manifest.Outports.FirstOrDefault(p => string.Equals(p, output.Port, StringComparison.OrdinalIgnoreCase));
        if (port is null)
        {
            LogBadOutput(_logger, Provider, manifest.Role, $"'{Printable(output.Port, 80)}' is not one of its outports");
            MarkFailed(source);
            return;
        }

        if (!IsJson(output.Data.Span))
        {
            LogBadOutput(_logger, Provider, manifest.Role, "its data is not JSON");
            MarkFailed(source);
            return;
        }

        if (_broker is null)
        {
            return;
        }

        var exchange = manifest.QueueOf(port);
        try
        {
            await _broker.PublishAsync(exchange, output.Data.Memory, source?.Delivery.TraceParent, CancellationToken.None);
        }
        catch (Exception e)
        {
            MarkFailed(source);
            LogPublishFailed(_logger, e, Provider, manifest.Role, exchange);
        }
    }

    /// <summary>Settles a delivery the device answered: acknowledged (unless an output of it failed to publish, which puts
    /// it back), rejected, or put back on its queue.</summary>
    public async Task AckAsync(ActivityAck ack)
    {
        if (!_deliveries.TryRemove(ack.DeliveryId, out var pending))
        {
            LogUnknownDelivery(_logger, Provider, Printable(ack.DeliveryId, 80));
            return;
        }

        try
        {
            if (ack.Error.Length == 0)
            {
                if (pending.PublishFailed)
                {
                    await pending.Delivery.NackAsync(requeue: true);
                }
                else
                {
                    await pending.Delivery.AckAsync();
                }
            }
            else
            {
                if (!ack.Requeue)
                {
                    LogRejected(_logger, Provider, pending.Role, Printable(ack.Error, 300));
                }

                await pending.Delivery.NackAsync(ack.Requeue);
            }
        }
        catch (Exception e)
        {
            // A consumer cancelled since has handed the delivery on already.
            LogSettleFailed(_logger, e, Provider, pending.Role);
        }
    }

    /// <summary>The link ended: consumers and announcements stop, what the device held goes back to its queues, and each
    /// activity shows offline on this device (unless <paramref name="replaced"/>: a newer link reports for it).</summary>
    public async Task CloseAsync(bool replaced)
    {
        await _closing.CancelAsync();
        await _lock.WaitAsync();
        try
        {
            foreach (var linked in _activities.Values)
            {
                await StopAsync(linked, "the link ended");
                if (!replaced)
                {
                    var last = linked.Reported;
                    await ReportAsync(linked, new ActivityHostRun(Provider, ActivityHostRun.Offline, null, last?.Restarts ?? 0, last?.LastError, _time.GetUtcNow(), linked.Manifest.Role));
                }
            }

            _activities.Clear();
        }
        finally
        {
            _lock.Release();
        }

        try
        {
            await _reporting;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private (ActivityManifest Manifest, EdgeActivity State)? Read(EdgeActivity wire)
    {
        ActivityManifest manifest;
        try
        {
            manifest = ActivityManifest.Parse(wire.Manifest, $"activity {Printable(wire.Id, 40)}: activity.json");
        }
        catch (TrellisException e)
        {
            LogBadActivity(_logger, Provider, Printable(wire.Name, 80), e.Message);
            return null;
        }

        if (!Guid.TryParse(wire.Id, out var id) || id != manifest.Id)
        {
            LogBadActivity(_logger, Provider, Printable(wire.Name, 80), $"its id '{Printable(wire.Id, 40)}' is not its manifest's {manifest.Id}");
            return null;
        }

        if (!States.Contains(wire.State))
        {
            LogBadActivity(_logger, Provider, manifest.Name, $"state '{Printable(wire.State, 40)}' is not one of starting, running, restarting, stopped");
            return null;
        }

        return (manifest, wire);
    }

    /// <summary>Declares the activity's ports and starts announcing it.</summary>
    private async Task StartAsync(LinkedActivity linked)
    {
        if (_broker is null)
        {
            if (!_warnedNoBroker)
            {
                _warnedNoBroker = true;
                LogNoBroker(_logger, Provider);
            }

            return;
        }

        var manifest = linked.Manifest;
        try
        {
            await _broker.StartAsync(_closing.Token);
            foreach (var port in manifest.Inports)
            {
                await _broker.DeclareInportAsync(manifest.QueueOf(port), FlowPortOptions.Default, _closing.Token);
            }

            foreach (var port in manifest.Outports)
            {
                await _broker.DeclareOutportAsync(manifest.QueueOf(port), FlowPortOptions.Default, _closing.Token);
            }

            linked.Declared = true;
        }
        catch (Exception e) when (!_closing.IsCancellationRequested)
        {
            LogBrokerFailed(_logger, e, Provider, manifest.Role);
            return;
        }

        linked.Announcing = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        linked.Announcer = AnnounceAsync(_broker, manifest, linked.Announcing.Token);
    }

    /// <summary>Consumes the inqueues while the activity runs on the device, and stops while it does not.</summary>
    private async Task FollowAsync(LinkedActivity linked)
    {
        if (_broker is null)
        {
            return;
        }

        if (!linked.Declared)
        {
            await StartAsync(linked);
            if (!linked.Declared)
            {
                return;
            }
        }

        var running = linked.Wire.State == "running";
        if (running && linked.Consumers.Count == 0)
        {
            var manifest = linked.Manifest;
            try
            {
                foreach (var port in manifest.Inports)
                {
                    var inport = port;
                    linked.Consumers.Add(await _broker.ConsumeAsync(
                        manifest.QueueOf(port),
                        new FlowConsumerOptions(_options.ActivityPrefetch),
                        (delivery, _) => DeliverAsync(linked, inport, delivery),
                        _closing.Token));
                }
            }
            catch (Exception e) when (!_closing.IsCancellationRequested)
            {
                LogBrokerFailed(_logger, e, Provider, manifest.Role);
                await StopConsumingAsync(linked);
            }
        }
        else if (!running && linked.Consumers.Count > 0)
        {
            await StopConsumingAsync(linked);
        }
    }

    private async ValueTask DeliverAsync(LinkedActivity linked, string port, FlowDelivery delivery)
    {
        var id = _prefix + Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);
        var pending = new Pending(delivery, linked.Manifest.Id, linked.Manifest.Role);
        _deliveries[id] = pending;
        var input = new ActivityInput
        {
            ActivityId = linked.Manifest.Id.ToString(),
            DeliveryId = id,
            Port = port,
            Data = ByteString.CopyFrom(delivery.Body.Span),
            Traceparent = delivery.TraceParent ?? "",
        };
        if (!_link.TrySend(new LinkMessage { ActivityInput = input }) && !_link.Ended.IsCancellationRequested && _deliveries.TryRemove(id, out _))
        {
            // The device is this far behind: back on the queue for another host. (A closed link returns it on close.)
            await delivery.NackAsync(requeue: true);
        }
    }

    /// <summary>Puts back what the device held of this activity, then cancels its consumers.</summary>
    private async Task StopConsumingAsync(LinkedActivity linked)
    {
        foreach (var (id, pending) in _deliveries)
        {
            if (pending.Activity == linked.Manifest.Id && _deliveries.TryRemove(id, out _))
            {
                try
                {
                    await pending.Delivery.NackAsync(requeue: true);
                }
                catch (Exception)
                {
                    // Handed on already.
                }
            }
        }

        foreach (var consumer in linked.Consumers)
        {
            try
            {
                await consumer.DisposeAsync();
            }
            catch (Exception e)
            {
                LogBrokerFailed(_logger, e, Provider, linked.Manifest.Role);
            }
        }

        linked.Consumers.Clear();
    }

    private async Task StopAsync(LinkedActivity linked, string why)
    {
        await StopConsumingAsync(linked);
        if (linked.Announcing is { } announcing)
        {
            await announcing.CancelAsync();
            await linked.Announcer;
            announcing.Dispose();
            linked.Announcing = null;
        }

        LogStopped(_logger, Provider, linked.Manifest.Role, why);
    }

    private async Task AnnounceAsync(IFlowBroker broker, ActivityManifest manifest, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(ActivityDiscovery.Message(manifest, Provider).ToJsonString());
        try
        {
            await broker.DeclareQueueAsync(ActivityDiscovery.Queue, cancellationToken);
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await broker.SendToQueueAsync(ActivityDiscovery.Queue, body, null, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    LogBrokerFailed(_logger, e, Provider, manifest.Role);
                }

                await Task.Delay(_announceEvery, _time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogBrokerFailed(_logger, e, Provider, manifest.Role);
        }
    }

    /// <summary>Re-reports every activity (the cluster's sign that this gateway still holds the link) and retries consumers
    /// the broker refused.</summary>
    private async Task ReportLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(_options.ActivityReportInterval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await _lock.WaitAsync(cancellationToken);
                try
                {
                    foreach (var linked in _activities.Values)
                    {
                        await FollowAsync(linked);
                        await ReportAsync(linked, force: true);
                    }
                }
                finally
                {
                    _lock.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private Task ReportAsync(LinkedActivity linked, bool force)
    {
        var w = linked.Wire;
        var run = new ActivityHostRun(
            Provider,
            w.State,
            w.Pid > 0 ? w.Pid : null,
            Math.Max(0, w.Restarts),
            w.LastError.Length == 0 ? null : Printable(w.LastError, 1000),
            _time.GetUtcNow(),
            linked.Manifest.Role,
            _options.ActivityReportInterval);
        if (linked.Reported is { } last && last == run with { Changed = last.Changed })
        {
            // The device's clock is not the gateway's: a state keeps the time the gateway first saw it.
            if (!force)
            {
                return Task.CompletedTask;
            }

            run = last;
        }

        return ReportAsync(linked, run);
    }

    private async Task ReportAsync(LinkedActivity linked, ActivityHostRun run)
    {
        if (linked.Reported is null || linked.Reported.Status != run.Status)
        {
            LogState(_logger, Provider, linked.Manifest.Role, run.Status, run.Restarts);
        }

        linked.Reported = run;
        try
        {
            await _grains.GetGrain<IActivityGrain>(linked.Manifest.Id).Report(linked.ManifestJson, linked.Tags, run);
        }
        catch (Exception e)
        {
            LogGrainFailed(_logger, e, Provider, linked.Manifest.Role);
        }
    }

    private static void MarkFailed(Pending? pending)
    {
        if (pending is not null)
        {
            pending.PublishFailed = true;
        }
    }

    private static bool SamePorts(ActivityManifest a, ActivityManifest b) =>
        a.Role == b.Role && a.Inports.SequenceEqual(b.Inports) && a.Outports.SequenceEqual(b.Outports);

    private static bool IsJson(ReadOnlySpan<byte> data)
    {
        try
        {
            var reader = new Utf8JsonReader(data);
            while (reader.Read())
            {
            }

            return data.Length > 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Printable(string text, int max) =>
        string.Concat(text.Take(max).Select(static c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));

    /// <summary>A delivery sent down the link and not yet settled.</summary>
    private sealed class Pending(FlowDelivery delivery, Guid activity, string role)
    {
        public FlowDelivery Delivery { get; } = delivery;

        public Guid Activity { get; } = activity;

        public string Role { get; } = role;

        public volatile bool PublishFailed;
    }

    /// <summary>One device activity as a participant: its manifest, last state, consumers and announcement.</summary>
    private sealed class LinkedActivity(ActivityManifest manifest)
    {
        public ActivityManifest Manifest { get; set; } = manifest;

        public string ManifestJson { get; set; } = "";

        public string[] Tags { get; set; } = [];

        public EdgeActivity Wire { get; set; } = new();

        public ActivityHostRun? Reported { get; set; }

        public bool Declared { get; set; }

        public List<IAsyncDisposable> Consumers { get; } = [];

        public CancellationTokenSource? Announcing { get; set; }

        public Task Announcer { get; set; } = Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {Provider}: activity {Role} is {Status} (restarts {Restarts})")]
    private static partial void LogState(ILogger logger, string provider, string role, string status, int restarts);

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {Provider}: activity {Role} is no longer a participant here: {Why}")]
    private static partial void LogStopped(ILogger logger, string provider, string role, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider} reports a problem with its activity home: {Problem}")]
    private static partial void LogDeviceProblem(ILogger logger, string provider, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: activity '{Name}' was refused: {Reason}")]
    private static partial void LogBadActivity(ILogger logger, string provider, string name, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider} sent {What} of activity '{Id}', which it does not host")]
    private static partial void LogUnknownActivity(ILogger logger, string provider, string id, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: an output of activity {Role} was dropped: {Reason}")]
    private static partial void LogBadOutput(ILogger logger, string provider, string role, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Device {Provider} settled delivery '{Id}', which is not in flight (settled already, or from an earlier link)")]
    private static partial void LogUnknownDelivery(ILogger logger, string provider, string id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: activity {Role} rejected a message: {Error}")]
    private static partial void LogRejected(ILogger logger, string provider, string role, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: settling a delivery of activity {Role} failed")]
    private static partial void LogSettleFailed(ILogger logger, Exception exception, string provider, string role);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: activity {Role}: publishing to {Exchange} failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string provider, string role, string exchange);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: the flow broker failed for activity {Role}")]
    private static partial void LogBrokerFailed(ILogger logger, Exception exception, string provider, string role);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider} hosts activities but this gateway has no flow broker: they are listed, not connected")]
    private static partial void LogNoBroker(ILogger logger, string provider);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {Provider}: reporting activity {Role} to its grain failed")]
    private static partial void LogGrainFailed(ILogger logger, Exception exception, string provider, string role);
}
