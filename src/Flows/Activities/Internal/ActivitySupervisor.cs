using System.Buffers;
using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Trellis.Core.Diagnostics;
using Trellis.Flows.Broker;

namespace Trellis.Flows.Activities.Internal;

/// <summary>Runs one enabled activity: declares its ports, announces it on <c>fbp</c>, starts its process, feeds it its
/// inqueues and publishes what it answers; restarts it with back-off when it ends, reporting every state change.</summary>
internal sealed class ActivitySupervisor : IAsyncDisposable
{
    private readonly InstalledActivity _activity;
    private readonly ActivityManifest _manifest;
    private readonly IFlowBroker _broker;
    private readonly ActivityHostOptions _options;
    private readonly IActivityStateSink? _sink;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;
    private ActivityRunState _state;

    public ActivitySupervisor(InstalledActivity activity, IFlowBroker broker, ActivityHostOptions options, IActivityStateSink? sink, ILogger logger, TimeProvider time)
    {
        _activity = activity;
        _manifest = activity.Manifest;
        _broker = broker;
        _options = options;
        _sink = sink;
        _logger = logger;
        _time = time;
        _state = new ActivityRunState(_manifest.Id, _manifest.Name, _manifest.Role, options.HostId, ActivityRunStatus.Starting, null, 0, null, time.GetUtcNow())
        {
            ReportInterval = options.ReportInterval,
        };
    }

    public InstalledActivity Activity => _activity;

    public ActivityRunState State => Volatile.Read(ref _state);

    public void Start() => _run = Task.Run(() => RunAsync(_stop.Token));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _run;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var backoff = _options.InitialBackoff;
        var restarts = 0;
        string? lastError = null;
        Task announcing = Task.CompletedTask;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await ReportAsync(ActivityRunStatus.Starting, null, restarts, lastError);
                var started = _time.GetTimestamp();
                string? ended;
                try
                {
                    await DeclarePortsAsync(ct);
                    if (announcing.IsCompleted)
                    {
                        announcing = AnnounceAsync(ct);
                    }

                    ended = await RunOnceAsync(pid => ReportAsync(ActivityRunStatus.Running, pid, restarts, lastError), ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    ended = e is Win32Exception ? $"could not start '{_manifest.Entry[0]}': {e.Message}" : e.Message;
                }

                if (ended is null || ct.IsCancellationRequested)
                {
                    break;
                }

                restarts++;
                lastError = ended;
                if (_time.GetElapsedTime(started) >= _options.StableAfter)
                {
                    backoff = _options.InitialBackoff;
                }

                ActivityLog.Crashed(_logger, _manifest.Name, _manifest.Role, ended, restarts, backoff);
                await ReportAsync(ActivityRunStatus.Restarting, null, restarts, lastError);
                try
                {
                    await Task.Delay(backoff, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            ActivityLog.SupervisorFailed(_logger, e, _manifest.Role);
            lastError = e.Message;
        }

        try
        {
            await announcing;
        }
        catch (OperationCanceledException)
        {
        }

        ActivityLog.Stopped(_logger, _manifest.Name, _manifest.Role);
        await ReportAsync(ActivityRunStatus.Stopped, null, restarts, lastError);
    }

    private async Task DeclarePortsAsync(CancellationToken ct)
    {
        await _broker.StartAsync(ct);
        foreach (var port in _manifest.Inports)
        {
            await _broker.DeclareInportAsync(_manifest.QueueOf(port), FlowPortOptions.Default, ct);
        }

        foreach (var port in _manifest.Outports)
        {
            await _broker.DeclareOutportAsync(_manifest.QueueOf(port), FlowPortOptions.Default, ct);
        }
    }

    /// <summary>Announces the activity on <c>fbp</c> now and every discovery period / 2.2 until stopped.</summary>
    private async Task AnnounceAsync(CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(ActivityDiscovery.Message(_manifest, _options.HostId).ToJsonString());
        var period = _options.DiscoveryPeriod / 2.2;
        await _broker.DeclareQueueAsync(ActivityDiscovery.Queue, ct);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _broker.SendToQueueAsync(ActivityDiscovery.Queue, body, null, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                ActivityLog.AnnounceFailed(_logger, e, _manifest.Role);
            }

            try
            {
                await Task.Delay(period, _time, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One life of the process: null when the host stopped it, else why it ended.</summary>
    private async Task<string?> RunOnceAsync(Func<int, ValueTask> running, CancellationToken ct)
    {
        var info = new ProcessStartInfo(ResolveCommand(_manifest.Entry[0], _activity.Directory))
        {
            WorkingDirectory = _activity.Directory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in _manifest.Entry.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["TRELLIS_ACTIVITY_ID"] = _manifest.Id.ToString();
        info.Environment["TRELLIS_ACTIVITY_ROLE"] = _manifest.Role;
        info.Environment["PYTHONUNBUFFERED"] = "1";

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start '{_manifest.Entry[0]}'");
        await using var run = new ActivityRun(this, process);
        var stderr = PumpStderrAsync(process);
        var stdout = run.PumpStdoutAsync();
        var exited = process.WaitForExitAsync(CancellationToken.None);
        try
        {
            foreach (var port in _manifest.Inports)
            {
                var inport = port;
                var queue = _manifest.QueueOf(port);
                run.Consumers.Add(await _broker.ConsumeAsync(
                    queue,
                    new FlowConsumerOptions(_options.Prefetch),
                    (delivery, token) =>
                    {
                        FlowMetrics.Delivered(delivery.Exchange, queue);
                        return run.DeliverAsync(delivery, inport, token);
                    },
                    ct));
            }
        }
        catch
        {
            Kill(process);
            throw;
        }

        ActivityLog.Started(_logger, _manifest.Name, _manifest.Role, process.Id);
        await running(process.Id);
        await Task.WhenAny(exited, Task.Delay(Timeout.Infinite, ct));
        if (!exited.IsCompleted)
        {
            // Stopping: no new work (what still arrives is held back, bounded by the prefetch); the activity answers what
            // it holds, its answers published and acknowledged on the consumers that are still open, then it goes (or is
            // killed after the grace period). What it did not answer goes back to the queue for another host.
            run.Drain();
            run.CloseStdin();
            await Task.WhenAny(exited, Task.Delay(_options.StopTimeout, _time));
            var killed = !exited.IsCompleted;
            Kill(process);
            await exited;
            await stdout;
            await stderr;
            ActivityLog.StoppedGracefully(_logger, _manifest.Role, killed ? "killed after the grace period" : "exited");
            await run.ReturnInFlightAsync(requeue: true);
            await run.StopConsumingAsync();
            return null;
        }

        await stdout;
        await stderr;
        run.MarkDead();
        await run.ReturnInFlightAsync(_options.RequeueOnCrash);
        return DescribeExit(process.ExitCode);
    }

    private static string DescribeExit(int code) =>
        code > 128 && !OperatingSystem.IsWindows() ? $"killed by signal {code - 128} (exit code {code})" : $"exited with code {code}";

    private static string ResolveCommand(string command, string directory) =>
        !Path.IsPathRooted(command) && command.Contains('/') ? Path.GetFullPath(command, directory) : command;

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    private async Task PumpStderrAsync(Process process)
    {
        while (await process.StandardError.ReadLineAsync() is { } line)
        {
            ActivityLog.Stderr(_logger, _manifest.Role, line);
        }
    }

    private async ValueTask ReportAsync(ActivityRunStatus status, int? pid, int restarts, string? lastError)
    {
        var state = new ActivityRunState(_manifest.Id, _manifest.Name, _manifest.Role, _options.HostId, status, pid, restarts, lastError, _time.GetUtcNow())
        {
            ReportInterval = _options.ReportInterval,
        };
        Volatile.Write(ref _state, state);
        if (_sink is null)
        {
            return;
        }

        try
        {
            await _sink.ReportAsync(state, CancellationToken.None);
        }
        catch (Exception e)
        {
            ActivityLog.SinkFailed(_logger, e, _manifest.Role);
        }
    }

    /// <summary>One process's messages: those it holds (by the id written to it), its stdin and its consumers.</summary>
    private sealed class ActivityRun(ActivitySupervisor owner, Process process) : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<string, FlowDelivery> _inFlight = new(StringComparer.Ordinal);

        // The consumer spans of held messages (only while one is sampled): a message's span ends when it is answered.
        private readonly ConcurrentDictionary<string, Activity> _spans = new(StringComparer.Ordinal);
        private readonly SemaphoreSlim _stdinLock = new(1, 1);
        private readonly Stream _stdin = process.StandardInput.BaseStream;
        private long _next;
        private volatile bool _dead;
        private volatile bool _draining;

        public List<IAsyncDisposable> Consumers { get; } = [];

        public async ValueTask DeliverAsync(FlowDelivery delivery, string port, CancellationToken ct)
        {
            if (_dead || _draining)
            {
                // Left unacknowledged: cancelling the consumer hands it to the next one.
                return;
            }

            await _stdinLock.WaitAsync(ct);
            try
            {
                // Numbered and written under the lock, so the activity sees messages in the order they were delivered.
                var id = (++_next).ToString(CultureInfo.InvariantCulture);
                var line = new ArrayBufferWriter<byte>(delivery.Body.Length + 64);
                ActivityProtocol.WriteInput(line, id, port, delivery.Body.Span);
                _inFlight[id] = delivery;
                if (MessagingTracing.StartProcess(
                        MessagingTracing.SystemOf(owner._broker.Name), owner._manifest.QueueOf(port), delivery.TraceParent, null, owner._manifest.Role) is { } span)
                {
                    _spans[id] = span;
                }

                await _stdin.WriteAsync(line.WrittenMemory, ct);
                await _stdin.FlushAsync(ct);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The process is gone; its exit returns what it held.
            }
            finally
            {
                _stdinLock.Release();
            }
        }

        public async Task PumpStdoutAsync()
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                await HandleLineAsync(line);
            }
        }

        private async Task HandleLineAsync(string line)
        {
            var m = owner._manifest;
            if (!ActivityProtocol.TryParseReply(line, out var reply, out var problem))
            {
                ActivityLog.BadLine(owner._logger, m.Role, problem!, line.Length > 200 ? line[..200] + "…" : line);
                return;
            }

            FlowDelivery? source = null;
            Activity? span = null;
            if (reply.Id is not null)
            {
                _inFlight.TryGetValue(reply.Id, out source);
                _spans.TryGetValue(reply.Id, out span);
            }

            var published = true;
            if (reply.Port is not null)
            {
                var port = FindOutport(m, reply.Port);
                if (port is null)
                {
                    ActivityLog.UnknownPort(owner._logger, m.Role, reply.Port);
                }
                else
                {
                    var exchange = m.QueueOf(port);
                    if (span is not null)
                    {
                        // The answer is published inside the span of the message it answers (this async method's own context).
                        System.Diagnostics.Activity.Current = span;
                    }

                    using var producer = MessagingTracing.StartPublish(MessagingTracing.SystemOf(owner._broker.Name), exchange);
                    try
                    {
                        await owner._broker.PublishAsync(exchange, reply.Data, MessagingTracing.TraceParentOf(producer ?? span) ?? source?.TraceParent, CancellationToken.None);
                        FlowMetrics.Sent(exchange);
                    }
                    catch (Exception e)
                    {
                        published = false;
                        MessagingTracing.Fail(producer, e);
                        ActivityLog.PublishFailed(owner._logger, e, m.Role, exchange);
                    }
                }
            }

            if (!reply.Ack && reply.Error is null)
            {
                return;
            }

            if (_spans.TryRemove(reply.Id!, out var answered))
            {
                MessagingTracing.Finish(answered, reply.Error is null ? 200 : 500);
            }

            if (!_inFlight.TryRemove(reply.Id!, out var delivery))
            {
                ActivityLog.UnknownId(owner._logger, m.Role, reply.Id!);
                return;
            }

            try
            {
                if (reply.Error is not null)
                {
                    ActivityLog.Rejected(owner._logger, m.Role, reply.Id!, reply.Error);
                    await delivery.NackAsync(requeue: false);
                }
                else if (!published)
                {
                    await delivery.NackAsync(requeue: true);
                }
                else
                {
                    await delivery.AckAsync();
                }
            }
            catch (Exception e)
            {
                ActivityLog.PublishFailed(owner._logger, e, m.Role, m.QueueOf(m.Inports[0]));
            }
        }

        public void MarkDead() => _dead = true;

        /// <summary>Stops writing deliveries to the process; those that still arrive wait unacknowledged for the consumer's end.</summary>
        public void Drain() => _draining = true;

        public async Task StopConsumingAsync()
        {
            foreach (var consumer in Consumers)
            {
                await consumer.DisposeAsync();
            }

            Consumers.Clear();
        }

        public void CloseStdin()
        {
            try
            {
                process.StandardInput.Close();
            }
            catch (IOException)
            {
            }
        }

        public async Task ReturnInFlightAsync(bool requeue)
        {
            var count = 0;
            foreach (var id in _inFlight.Keys)
            {
                if (_spans.TryRemove(id, out var span))
                {
                    MessagingTracing.Finish(span, 503);
                }

                if (_inFlight.TryRemove(id, out var delivery))
                {
                    count++;
                    try
                    {
                        await delivery.NackAsync(requeue);
                    }
                    catch (Exception)
                    {
                        // A cancelled consumer has handed it on already.
                    }
                }
            }

            if (count > 0)
            {
                ActivityLog.InFlightReturned(owner._logger, owner._manifest.Role, count, requeue ? "put back on the queue" : "rejected to the dead-letter exchange");
            }
        }

        public async ValueTask DisposeAsync()
        {
            _dead = true;
            await StopConsumingAsync();
        }

        private static string? FindOutport(ActivityManifest manifest, string port)
        {
            foreach (var p in manifest.Outports)
            {
                if (string.Equals(p, port, StringComparison.OrdinalIgnoreCase))
                {
                    return p;
                }
            }

            return null;
        }
    }
}
