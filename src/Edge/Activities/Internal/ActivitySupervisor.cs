using System.Buffers;
using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Trellis.Flows.Activities.Internal;
using Microsoft.Extensions.Logging;

namespace Trellis.Edge.Activities.Internal;

/// <summary>Runs one enabled activity on the device: starts its process, writes it the deliveries the gateway sends down
/// the link and hands what it answers to the <see cref="IActivityOutlet"/>; restarts it with back-off when it ends,
/// reporting every state change. The device-side twin of src/Flows/Activities/Internal/ActivitySupervisor.cs, with the
/// link in place of the broker.</summary>
internal sealed class ActivitySupervisor : IAsyncDisposable
{
    private volatile HostedActivity _activity;
    private readonly ActivityHostSettings _settings;
    private readonly IActivityOutlet _outlet;
    private readonly Action<ActivityState> _changed;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;
    private ActivityState _state;
    private volatile ActivityRun? _current;

    public ActivitySupervisor(HostedActivity activity, ActivityHostSettings settings, IActivityOutlet outlet, Action<ActivityState> changed, ILogger logger, TimeProvider time)
    {
        _activity = activity;
        _settings = settings;
        _outlet = outlet;
        _changed = changed;
        _logger = logger;
        _time = time;
        _state = NewState(ActivityState.Starting, null, 0, null);
    }

    public HostedActivity Activity => _activity;

    public ActivityState State => Volatile.Read(ref _state);

    /// <summary>Takes a new manifest text or tags of the same run (see <see cref="HostedActivity.SameRun"/>); true when anything changed.</summary>
    public bool Update(HostedActivity activity)
    {
        var current = _activity;
        if (current.Manifest == activity.Manifest && current.Tags.SequenceEqual(activity.Tags))
        {
            return false;
        }

        _activity = activity;
        var state = State;
        Volatile.Write(ref _state, state with { Name = activity.Name, Version = activity.Version });
        return true;
    }

    public void Start() => _run = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Queues a delivery for the running process; false when none runs (the caller puts it back on its queue).</summary>
    public bool TryDeliver(string deliveryId, string port, ReadOnlyMemory<byte> data) =>
        _current is { } run && run.TryQueue(new Input(deliveryId, port, data));

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
        var backoff = _settings.InitialBackoff;
        var restarts = 0;
        string? lastError = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Report(ActivityState.Starting, null, restarts, lastError);
                var started = _time.GetTimestamp();
                string? ended;
                try
                {
                    ended = await RunOnceAsync(pid => Report(ActivityState.Running, pid, restarts, lastError), ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    ended = e is Win32Exception ? $"could not start '{_activity.Entry[0]}': {e.Message}" : e.Message;
                }

                if (ended is null || ct.IsCancellationRequested)
                {
                    break;
                }

                restarts++;
                lastError = ended;
                if (_time.GetElapsedTime(started) >= _settings.StableAfter)
                {
                    backoff = _settings.InitialBackoff;
                }

                ActivityLog.Crashed(_logger, _activity.Name, _activity.Role, ended, restarts, backoff);
                Report(ActivityState.Restarting, null, restarts, lastError);
                try
                {
                    await Task.Delay(backoff, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _settings.MaxBackoff.Ticks));
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            ActivityLog.SupervisorFailed(_logger, e, _activity.Role);
            lastError = e.Message;
        }

        ActivityLog.Stopped(_logger, _activity.Name, _activity.Role);
        Report(ActivityState.Stopped, null, restarts, lastError);
    }

    /// <summary>One life of the process: null when the agent stopped it, else why it ended.</summary>
    private async Task<string?> RunOnceAsync(Action<int> running, CancellationToken ct)
    {
        var info = new ProcessStartInfo(ResolveCommand(_activity.Entry[0], _activity.Directory))
        {
            WorkingDirectory = _activity.Directory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        foreach (var arg in _activity.Entry.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["TRELLIS_ACTIVITY_ID"] = _activity.Id.ToString();
        info.Environment["TRELLIS_ACTIVITY_ROLE"] = _activity.Role;
        info.Environment["PYTHONUNBUFFERED"] = "1";

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start '{_activity.Entry[0]}'");
        var run = new ActivityRun(this, process);
        var stderr = PumpStderrAsync(process);
        var stdout = run.PumpStdoutAsync();
        var writing = run.WriteLoopAsync();
        var exited = process.WaitForExitAsync(CancellationToken.None);
        _current = run;
        ActivityLog.Started(_logger, _activity.Name, _activity.Role, process.Id);
        running(process.Id);
        await Task.WhenAny(exited, Task.Delay(Timeout.Infinite, ct));
        _current = null;
        if (!exited.IsCompleted)
        {
            // Stopping: no new work; the activity answers what it holds (those answers still go up the link), then it goes
            // (or is killed after the grace period). What it did not answer goes back to its queue for another host.
            await run.CloseInputAsync(writing);
            await Task.WhenAny(exited, Task.Delay(_settings.StopTimeout, _time));
            var killed = !exited.IsCompleted;
            Kill(process);
            await exited;
            await stdout;
            await stderr;
            ActivityLog.StoppedGracefully(_logger, _activity.Role, killed ? "killed after the grace period" : "exited");
            await run.ReturnInFlightAsync(requeue: true);
            return null;
        }

        await run.CloseInputAsync(writing);
        await stdout;
        await stderr;
        await run.ReturnInFlightAsync(_settings.RequeueOnCrash);
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
            ActivityLog.Stderr(_logger, _activity.Role, line);
        }
    }

    private void Report(string status, int? pid, int restarts, string? lastError)
    {
        var state = NewState(status, pid, restarts, lastError);
        Volatile.Write(ref _state, state);
        _changed(state);
    }

    private ActivityState NewState(string status, int? pid, int restarts, string? lastError) =>
        new(_activity.Id, _activity.Name, _activity.Version, _activity.Role, status, pid, restarts, lastError, _time.GetUtcNow());

    private async ValueTask DoneAsync(string deliveryId, string? error, bool requeue)
    {
        try
        {
            await _outlet.DoneAsync(_activity.Id, deliveryId, error, requeue);
        }
        catch (Exception e)
        {
            ActivityLog.OutletFailed(_logger, e, _activity.Role);
        }
    }

    private readonly record struct Input(string DeliveryId, string Port, ReadOnlyMemory<byte> Data);

    /// <summary>One process's messages: those queued for its stdin (written in arrival order by one writer), and those
    /// it holds, by the id written to it.</summary>
    private sealed class ActivityRun(ActivitySupervisor owner, Process process)
    {
        private readonly Channel<Input> _inputs = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true });
        private readonly ConcurrentDictionary<string, string> _inFlight = new(StringComparer.Ordinal);
        private long _next;

        public bool TryQueue(Input input) => _inputs.Writer.TryWrite(input);

        public async Task WriteLoopAsync()
        {
            var stdin = process.StandardInput.BaseStream;
            var line = new ArrayBufferWriter<byte>(256);
            await foreach (var input in _inputs.Reader.ReadAllAsync())
            {
                var id = (++_next).ToString(CultureInfo.InvariantCulture);
                line.ResetWrittenCount();
                ActivityProtocol.WriteInput(line, id, input.Port, input.Data.Span);
                _inFlight[id] = input.DeliveryId;
                try
                {
                    await stdin.WriteAsync(line.WrittenMemory);
                    await stdin.FlushAsync();
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
                {
                    // The process is gone; its exit returns what it held.
                }
            }
        }

        /// <summary>Takes no more input; what was queued but never written goes back to its queue at once.</summary>
        public async Task CloseInputAsync(Task writing)
        {
            _inputs.Writer.TryComplete();
            var unwritten = new List<Input>();
            while (_inputs.Reader.TryRead(out var input))
            {
                unwritten.Add(input);
            }

            await writing;
            foreach (var input in unwritten)
            {
                await owner.DoneAsync(input.DeliveryId, "the activity stopped before it was given the message", requeue: true);
            }

            try
            {
                process.StandardInput.Close();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
            }
        }

        public async Task PumpStdoutAsync()
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Length > 0)
                {
                    await HandleLineAsync(line);
                }
            }
        }

        private async Task HandleLineAsync(string line)
        {
            var a = owner._activity;
            if (!ActivityProtocol.TryParseReply(line, out var reply, out var problem))
            {
                ActivityLog.BadLine(owner._logger, a.Role, problem!, line.Length > 200 ? line[..200] + "…" : line);
                return;
            }

            string? source = null;
            if (reply.Id is not null)
            {
                _inFlight.TryGetValue(reply.Id, out source);
            }

            if (reply.Port is not null)
            {
                var port = FindOutport(a, reply.Port);
                if (port is null)
                {
                    ActivityLog.UnknownPort(owner._logger, a.Role, reply.Port);
                }
                else
                {
                    try
                    {
                        await owner._outlet.OutputAsync(a.Id, port, reply.Data, source);
                    }
                    catch (Exception e)
                    {
                        ActivityLog.OutletFailed(owner._logger, e, a.Role);
                    }
                }
            }

            if (!reply.Ack && reply.Error is null)
            {
                return;
            }

            if (!_inFlight.TryRemove(reply.Id!, out var deliveryId))
            {
                ActivityLog.UnknownId(owner._logger, a.Role, reply.Id!);
                return;
            }

            if (reply.Error is not null)
            {
                ActivityLog.Rejected(owner._logger, a.Role, reply.Id!, reply.Error);
            }

            await owner.DoneAsync(deliveryId, reply.Error, requeue: false);
        }

        public async Task ReturnInFlightAsync(bool requeue)
        {
            var count = 0;
            foreach (var id in _inFlight.Keys)
            {
                if (_inFlight.TryRemove(id, out var deliveryId))
                {
                    count++;
                    await owner.DoneAsync(deliveryId, requeue ? "the activity stopped before it answered" : "the activity ended before it answered", requeue);
                }
            }

            if (count > 0)
            {
                ActivityLog.InFlightReturned(owner._logger, owner._activity.Role, count, requeue ? "put back on the queue" : "rejected to the dead-letter exchange");
            }
        }

        private static string? FindOutport(HostedActivity activity, string port)
        {
            foreach (var p in activity.Outports)
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
