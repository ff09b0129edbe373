using Microsoft.Extensions.Logging;
using Trellis.Edge.Activities.Internal;

namespace Trellis.Edge.Activities;

/// <summary>The agent as an activity host (<c>trellis-edge daemon --activities HOME</c>): runs every enabled activity of
/// the home as a supervised process, follows enable and disable by reading the home again every
/// <see cref="ActivityHostSettings.RescanInterval"/>, and tells <see cref="Changed"/> whenever an activity's state or the
/// home's problems change. The link sends the states to the gateway, which makes each activity a participant on the
/// cluster's flow broker and delivers its inqueues here (<see cref="TryDeliver"/>); the answers go to <see cref="Outlet"/>.</summary>
public sealed class EdgeActivities : IAsyncDisposable
{
    private readonly ActivityHome _home;
    private readonly ActivityHostSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<Guid, ActivitySupervisor> _running = [];
    private readonly SemaphoreSlim _sync = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private IReadOnlyList<string> _problems = [];
    private Task _scanning = Task.CompletedTask;

    public EdgeActivities(string home, ActivityHostSettings? settings = null, ILogger? logger = null, TimeProvider? time = null)
    {
        _home = new ActivityHome(home);
        _settings = settings ?? new ActivityHostSettings();
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    public string Home => _home.Home;

    /// <summary>Where outputs and acknowledgements go (the link); until one is set they are dropped, and a delivery that
    /// cannot be answered goes back to its queue on the gateway's side when the link ends.</summary>
    public IActivityOutlet? Outlet { get; set; }

    /// <summary>Raised (on any thread) when an activity's state or the home's problems change.</summary>
    public event Action? Changed;

    /// <summary>The state of every activity the agent supervises, by name.</summary>
    public IReadOnlyList<ActivityState> States
    {
        get
        {
            lock (_running)
            {
                return [.. _running.Values.Select(static s => s.State).OrderBy(static s => s.Name, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The supervised activities with their manifests and tags.</summary>
    public IReadOnlyList<(HostedActivity Activity, ActivityState State)> Activities
    {
        get
        {
            lock (_running)
            {
                return [.. _running.Values.Select(static s => (s.Activity, s.State)).OrderBy(static p => p.Activity.Name, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>What the last reading of the home could not use (one line each; those activities do not run).</summary>
    public IReadOnlyList<string> Problems => Volatile.Read(ref _problems);

    /// <summary>Reads the home and starts what is enabled, then keeps following it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ActivityLog.Hosting(_logger, _home.Home);
        await ScanAsync(cancellationToken).ConfigureAwait(false);
        _scanning = Task.Run(() => ScanLoopAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>Hands a delivery to the activity's process; false when it is not running here.</summary>
    public bool TryDeliver(Guid activityId, string deliveryId, string port, ReadOnlyMemory<byte> data)
    {
        ActivitySupervisor? supervisor;
        lock (_running)
        {
            _running.TryGetValue(activityId, out supervisor);
        }

        return supervisor is not null && supervisor.Activity.Inports.Contains(port) && supervisor.TryDeliver(deliveryId, port, data);
    }

    /// <summary>Reads the home once: starts the newly enabled, stops the disabled, restarts one whose entry or ports changed.</summary>
    public async Task ScanAsync(CancellationToken cancellationToken)
    {
        await _sync.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var problems = new List<string>();
            var enabled = _home.ListEnabled(problems);
            var changed = !problems.SequenceEqual(_problems);
            if (changed)
            {
                foreach (var problem in problems.Except(_problems))
                {
                    ActivityLog.HomeProblem(_logger, _home.Home, problem);
                }

                Volatile.Write(ref _problems, problems);
            }

            if (enabled is null)
            {
                if (changed)
                {
                    Raise();
                }

                return;
            }

            var wanted = enabled.ToDictionary(static a => a.Id);

            List<ActivitySupervisor> stopping;
            lock (_running)
            {
                stopping = [.. _running.Values.Where(s => !wanted.TryGetValue(s.Activity.Id, out var w) || !w.SameRun(s.Activity))];
                foreach (var s in stopping)
                {
                    _running.Remove(s.Activity.Id);
                }
            }

            await Task.WhenAll(stopping.Select(static s => s.DisposeAsync().AsTask())).ConfigureAwait(false);
            foreach (var activity in wanted.Values)
            {
                lock (_running)
                {
                    if (_running.TryGetValue(activity.Id, out var current))
                    {
                        // Same process and ports; a new name, version or tags keep it running and are announced.
                        changed |= current.Update(activity);
                        continue;
                    }

                    var supervisor = new ActivitySupervisor(activity, _settings, new OutletRelay(this), _ => Raise(), _logger, _time);
                    _running.Add(activity.Id, supervisor);
                    supervisor.Start();
                }
            }

            if (changed || stopping.Count > 0)
            {
                Raise();
            }
        }
        finally
        {
            _sync.Release();
        }
    }

    private async Task ScanLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(_settings.RescanInterval, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await ScanAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    ActivityLog.ScanFailed(_logger, e, _home.Home);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Raise()
    {
        try
        {
            Changed?.Invoke();
        }
        catch (Exception e)
        {
            ActivityLog.OutletFailed(_logger, e, "*");
        }
    }

    /// <summary>Stops every activity (each gets <see cref="ActivityHostSettings.StopTimeout"/> to answer what it holds).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _scanning.ConfigureAwait(false);
        await _sync.WaitAsync().ConfigureAwait(false);
        List<ActivitySupervisor> all;
        lock (_running)
        {
            all = [.. _running.Values];
            _running.Clear();
        }

        await Task.WhenAll(all.Select(static s => s.DisposeAsync().AsTask())).ConfigureAwait(false);
        _sync.Release();
    }

    /// <summary>Passes answers to whatever <see cref="Outlet"/> is now.</summary>
    private sealed class OutletRelay(EdgeActivities owner) : IActivityOutlet
    {
        public ValueTask OutputAsync(Guid activityId, string port, ReadOnlyMemory<byte> data, string? deliveryId) =>
            owner.Outlet?.OutputAsync(activityId, port, data, deliveryId) ?? ValueTask.CompletedTask;

        public ValueTask DoneAsync(Guid activityId, string deliveryId, string? error, bool requeue) =>
            owner.Outlet?.DoneAsync(activityId, deliveryId, error, requeue) ?? ValueTask.CompletedTask;
    }
}
