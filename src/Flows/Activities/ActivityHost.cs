using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Flows.Activities.Internal;
using Trellis.Flows.Broker;

namespace Trellis.Flows.Activities;

/// <summary>A Trellis host: runs each enabled activity as a supervised process that is a MsgFlo participant on the
/// broker (inqueues <c>&lt;role&gt;.&lt;PORT&gt;</c>, outport exchanges, announced on <c>fbp</c>). <see cref="SyncAsync"/>
/// starts what was enabled and stops what was disabled; the silo's hosted service and <c>trellis host</c> call it
/// whenever the home changes.</summary>
public sealed class ActivityHost : IAsyncDisposable
{
    private readonly IFlowBroker _broker;
    private readonly IActivityStateSink? _sink;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<Guid, ActivitySupervisor> _running = [];
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _reporting = Task.CompletedTask;

    public ActivityHost(IFlowBroker broker, ActivityHostOptions? options = null, IActivityStateSink? sink = null, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        _broker = broker;
        Options = options ?? new ActivityHostOptions();
        _sink = sink;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Trellis.Flows.Activities.ActivityHost");
        _time = time ?? TimeProvider.System;
        if (sink is not null && Options.ReportInterval > TimeSpan.Zero)
        {
            _reporting = ReportLoopAsync(sink, _stopping.Token);
        }
    }

    public ActivityHostOptions Options { get; }

    /// <summary>The state of every activity this host supervises.</summary>
    public IReadOnlyList<ActivityRunState> States
    {
        get
        {
            lock (_running)
            {
                return [.. _running.Values.Select(static s => s.State)];
            }
        }
    }

    public ActivityRunState? GetState(Guid activityId)
    {
        lock (_running)
        {
            return _running.TryGetValue(activityId, out var s) ? s.State : null;
        }
    }

    /// <summary>Supervises exactly <paramref name="enabled"/>: starts the new ones, stops those no longer listed, and
    /// restarts one whose manifest changed.</summary>
    public async Task SyncAsync(IEnumerable<InstalledActivity> enabled, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            var wanted = enabled.ToDictionary(static a => a.Manifest.Id);
            List<ActivitySupervisor> stopping;
            lock (_running)
            {
                stopping = [.. _running.Values.Where(s => !wanted.TryGetValue(s.Activity.Manifest.Id, out var w) || !SameRun(w, s.Activity))];
                foreach (var s in stopping)
                {
                    _running.Remove(s.Activity.Manifest.Id);
                }
            }

            foreach (var s in stopping)
            {
                await s.DisposeAsync();
            }

            foreach (var activity in wanted.Values)
            {
                lock (_running)
                {
                    if (_running.ContainsKey(activity.Manifest.Id))
                    {
                        continue;
                    }

                    var supervisor = new ActivitySupervisor(activity, _broker, Options, _sink, _logger, _time);
                    _running.Add(activity.Manifest.Id, supervisor);
                    supervisor.Start();
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Stops every activity (each gets <see cref="ActivityHostOptions.StopTimeout"/> to answer what it holds) and
    /// reports each stopped.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _reporting;
        await SyncAsync([], CancellationToken.None);
    }

    /// <summary>Reports every activity's state again each <see cref="ActivityHostOptions.ReportInterval"/>: the cluster's
    /// sign that this host is still there.</summary>
    private async Task ReportLoopAsync(IActivityStateSink sink, CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(Options.ReportInterval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                foreach (var state in States)
                {
                    try
                    {
                        await sink.ReportAsync(state, cancellationToken);
                    }
                    catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                    {
                        ActivityLog.SinkFailed(_logger, e, state.Role);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private static bool SameRun(InstalledActivity a, InstalledActivity b) =>
        a.Directory == b.Directory
        && a.Manifest.Entry.SequenceEqual(b.Manifest.Entry)
        && a.Manifest.Role == b.Manifest.Role
        && a.Manifest.Inports.SequenceEqual(b.Manifest.Inports)
        && a.Manifest.Outports.SequenceEqual(b.Manifest.Outports);
}
