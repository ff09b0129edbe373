using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Jobs.Internal;
using Trellis.Edge.Local;

namespace Trellis.Edge.Jobs;

/// <summary>The device's jobs (gshell's run/ps/kill/stop/start/rm/log): any executable, started detached from the agent
/// so it survives the agent's exit, restart and self-update, with its state in WorkDir/jobs/&lt;id&gt;/job.json.</summary>
/// <remarks>A new manager on the same directory re-adopts the jobs still running (pid + /proc start time) and finishes
/// the others from the exit code their wrapper wrote. Running jobs are watched by polling /proc every
/// <see cref="PollInterval"/>; with none running the watcher sleeps until a job starts.</remarks>
public sealed class JobManager : IJobTable, IAsyncDisposable
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LaunchGrace = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, JobRecord> _jobs = new(StringComparer.Ordinal);
    private readonly JobLauncher _launcher;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private Task? _watch;

    public JobManager(string root, ILogger? logger = null, TimeProvider? time = null)
    {
        Directory.CreateDirectory(root);
        _launcher = new JobLauncher(Path.GetFullPath(root));
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>WorkDir/jobs.</summary>
    public string Root => _launcher.Root;

    public event Action? Changed;

    /// <summary>Loads the jobs on disk (re-adopting the live ones, finishing the others) and starts watching.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_watch is not null)
            {
                return;
            }

            foreach (var dir in Directory.EnumerateDirectories(Root))
            {
                var file = Path.Combine(dir, "job.json");
                if (Path.GetFileName(dir).StartsWith('.') || !File.Exists(file))
                {
                    continue;
                }

                try
                {
                    var job = JobRecord.FromJson(JsonNode.Parse(File.ReadAllText(file))!);
                    if (job.Running)
                    {
                        job.LaunchedAt = _time.GetUtcNow();
                        if (ProcFs.IsAlive(job.Pid, job.ProcessStart))
                        {
                            JobLog.Adopted(_logger, job.Id, job.Name, job.Pid);
                        }
                    }

                    _jobs[job.Id] = job;
                }
                catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
                {
                    JobLog.Unreadable(_logger, file, e.Message);
                }
            }
        }

        Poll();
        _watch = Task.Run(() => WatchAsync(_stop.Token));
    }

    public IReadOnlyList<JobSnapshot> Snapshot()
    {
        lock (_lock)
        {
            return [.. Ordered(_jobs.Values).Select(static j => j.Snapshot())];
        }
    }

    /// <summary>A job's details: the snapshot's fields plus command, restart, rm, pid, endAt.</summary>
    public JsonObject Describe(string id)
    {
        lock (_lock)
        {
            var job = Get(id);
            return Describe(job);
        }
    }

    /// <summary>Creates a job and starts it; a failure to start shows as its status <c>failed:&lt;why&gt;</c>.</summary>
    public JobSnapshot Run(JobSpec spec)
    {
        spec.Validate();
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var job = new JobRecord
        {
            Id = id,
            Name = spec.Name ?? Path.GetFileName(spec.Command[0]),
            Command = [.. spec.Command],
            RestartMax = spec.Restart,
            AutoRemove = spec.Remove,
            Group = spec.Group,
            Files = [.. (spec.Files?.Keys ?? []).Order(StringComparer.Ordinal)],
            CreatedAt = _time.GetUtcNow(),
        };

        var dir = _launcher.JobDir(id);
        var files = Path.Combine(dir, "files");
        Directory.CreateDirectory(files);
        foreach (var (path, content) in spec.Files ?? new Dictionary<string, byte[]>())
        {
            var target = Path.Combine(files, path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllBytes(target, content);
            if (!OperatingSystem.IsWindows() && content.Length >= 4 && (content.AsSpan().StartsWith("#!"u8) || content.AsSpan().StartsWith("\u007fELF"u8)))
            {
                File.SetUnixFileMode(target, File.GetUnixFileMode(target) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }
        }

        lock (_lock)
        {
            _jobs[id] = job;
            Launch(job);
            return job.Snapshot();
        }
    }

    /// <summary>The jobs <paramref name="pattern"/> names: a job id, a name, a group, or a name with '*' wildcards;
    /// 404 when none.</summary>
    public IReadOnlyList<JobSnapshot> Find(string pattern)
    {
        lock (_lock)
        {
            return [.. Match(pattern).Select(static j => j.Snapshot())];
        }
    }

    /// <summary>SIGKILL; <paramref name="force"/> also kills the job's wrapper shell.</summary>
    public async Task<IReadOnlyList<JobSnapshot>> KillAsync(string pattern, bool force = false, CancellationToken cancellationToken = default)
    {
        List<JobRecord> jobs;
        lock (_lock)
        {
            jobs = [.. Match(pattern).Where(static j => j.Running)];
        }

        await WaitForPidsAsync(jobs, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var job in jobs.Where(static j => j.Running))
            {
                job.Ending = $"killed:{ProcFs.SigKill}";
                Save(job);
                ProcFs.Signal(job.Pid, ProcFs.SigKill);
                if (force || job.Pid == 0)
                {
                    ProcFs.Signal(job.WrapperPid, ProcFs.SigKill);
                }
            }
        }

        return await AfterSignalAsync(jobs, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/> (default 5 s); the jobs end as <c>stopped</c>.</summary>
    public async Task<IReadOnlyList<JobSnapshot>> StopAsync(string pattern, TimeSpan? grace = null, CancellationToken cancellationToken = default)
    {
        List<JobRecord> jobs;
        lock (_lock)
        {
            jobs = [.. Match(pattern).Where(static j => j.Running)];
        }

        await WaitForPidsAsync(jobs, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var job in jobs.Where(static j => j.Running))
            {
                job.Ending = "stopped";
                Save(job);
                ProcFs.Signal(job.Pid == 0 ? job.WrapperPid : job.Pid, ProcFs.SigTerm);
            }
        }

        var deadline = _time.GetUtcNow() + (grace ?? TimeSpan.FromSeconds(5));
        while (jobs.Any(IsRunning) && _time.GetUtcNow() < deadline)
        {
            await Task.Delay(PollInterval / 4, _time, cancellationToken).ConfigureAwait(false);
            Poll();
        }

        lock (_lock)
        {
            foreach (var job in jobs.Where(static j => j.Running))
            {
                ProcFs.Signal(job.Pid, ProcFs.SigKill);
                ProcFs.Signal(job.WrapperPid, ProcFs.SigKill);
            }
        }

        return await AfterSignalAsync(jobs, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts stopped or ended jobs again (running ones are left alone).</summary>
    public IReadOnlyList<JobSnapshot> StartAgain(string pattern)
    {
        lock (_lock)
        {
            var jobs = Match(pattern);
            foreach (var job in jobs.Where(static j => !j.Running))
            {
                Launch(job);
            }

            return [.. jobs.Select(static j => j.Snapshot())];
        }
    }

    /// <summary>Removes jobs that are not running with their directories; 409 naming the running ones.</summary>
    public IReadOnlyList<string> Remove(string pattern)
    {
        List<JobRecord> jobs;
        lock (_lock)
        {
            jobs = Match(pattern);
            var running = jobs.Where(static j => j.Running).Select(static j => $"{j.Id} ({j.Name})").ToList();
            if (running.Count > 0)
            {
                throw new LocalApiException(409, $"job {string.Join(", ", running)} is running; stop or kill it first");
            }

            foreach (var job in jobs)
            {
                Delete(job);
            }
        }

        Changed?.Invoke();
        return [.. jobs.Select(static j => j.Id)];
    }

    /// <summary>The path of the job's log (stdout and stderr, appended over restarts).</summary>
    public string LogPath(string id)
    {
        lock (_lock)
        {
            return Path.Combine(_launcher.JobDir(Get(id).Id), "log");
        }
    }

    public bool IsRunning(string id)
    {
        lock (_lock)
        {
            return _jobs.TryGetValue(id, out var job) && job.Running;
        }
    }

    /// <summary>Every job as <c>run</c> would re-create it, with its files' current contents unless <paramref name="tiny"/>.</summary>
    public IReadOnlyList<JobSpec> Specs(bool tiny)
    {
        lock (_lock)
        {
            return [.. Ordered(_jobs.Values).Select(job =>
            {
                Dictionary<string, byte[]>? files = null;
                if (!tiny && job.Files.Length > 0)
                {
                    files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
                    foreach (var path in job.Files)
                    {
                        var full = Path.Combine(_launcher.JobDir(job.Id), "files", path);
                        if (File.Exists(full))
                        {
                            files[path] = File.ReadAllBytes(full);
                        }
                    }
                }

                return new JobSpec(job.Name, job.Command, job.RestartMax, job.AutoRemove, job.Group, files);
            })];
        }
    }

    /// <summary>Stops watching; the jobs go on running (a new manager on the same directory adopts them).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_watch is not null)
        {
            try
            {
                await _watch.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _stop.Dispose();
    }

    /// <summary>A job just launched has not yet written its pids; a signal needs them.</summary>
    private async Task WaitForPidsAsync(List<JobRecord> jobs, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + TimeSpan.FromSeconds(5);
        while (_time.GetUtcNow() < deadline && jobs.Any(j => { lock (_lock) { return j.Running && (j.Pid == 0 || j.WrapperPid == 0); } }))
        {
            Poll();
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private bool IsRunning(JobRecord job)
    {
        lock (_lock)
        {
            return job.Running;
        }
    }

    private async Task<IReadOnlyList<JobSnapshot>> AfterSignalAsync(List<JobRecord> jobs, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + wait;
        while (jobs.Any(IsRunning) && _time.GetUtcNow() < deadline)
        {
            await Task.Delay(PollInterval / 4, _time, cancellationToken).ConfigureAwait(false);
            Poll();
        }

        lock (_lock)
        {
            return [.. jobs.Select(static j => j.Snapshot())];
        }
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            bool any;
            lock (_lock)
            {
                any = _jobs.Values.Any(static j => j.Running);
            }

            try
            {
                if (any)
                {
                    await Task.Delay(PollInterval, _time, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await _wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                }

                Poll();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                JobLog.WatchFailed(_logger, e);
            }
        }
    }

    /// <summary>One look at every running job: its pids once written, its exit code once ended.</summary>
    private void Poll()
    {
        var changed = false;
        lock (_lock)
        {
            foreach (var job in _jobs.Values.Where(static j => j.Running).ToList())
            {
                changed |= Check(job);
            }
        }

        if (changed)
        {
            Changed?.Invoke();
        }
    }

    private bool Check(JobRecord job)
    {
        var dir = _launcher.JobDir(job.Id);
        var changed = false;
        if (job.WrapperPid == 0 && JobLauncher.ReadPid(Path.Combine(dir, "wrapper.pid")) is { } wrapper)
        {
            job.WrapperPid = wrapper;
            job.WrapperStart = ProcFs.StartTime(wrapper) ?? 0;
            changed = true;
        }

        if (job.Pid == 0 && JobLauncher.ReadPid(Path.Combine(dir, "pid")) is { } pid)
        {
            job.Pid = pid;
            job.ProcessStart = ProcFs.StartTime(pid) ?? 0;
            changed = true;
        }

        if (changed)
        {
            Save(job);
        }

        if (_launcher.ReadExit(job.Id) is { } code)
        {
            Finish(job, code);
            return true;
        }

        var alive = (job.Pid > 0 && ProcFs.IsAlive(job.Pid, job.ProcessStart))
            || (job.WrapperPid > 0 && ProcFs.IsAlive(job.WrapperPid, job.WrapperStart));
        if (alive)
        {
            return changed;
        }

        if (job.WrapperPid == 0 && job.LaunchedAt is { } launched && _time.GetUtcNow() - launched < LaunchGrace)
        {
            return changed;
        }

        // The wrapper may have written the exit file between the two looks.
        if (_launcher.ReadExit(job.Id) is { } late)
        {
            Finish(job, late);
        }
        else
        {
            Finish(job, null);
        }

        return true;
    }

    private void Finish(JobRecord job, int? code)
    {
        var status = code switch
        {
            null => "failed:lost (the process ended without an exit code)",
            >= 129 and <= 192 => $"killed:{code - 128}",
            _ => $"exited:{code}",
        };
        var ending = job.Ending;
        job.Status = ending ?? status;
        job.Ending = null;
        job.EndAt = _time.GetUtcNow();
        job.LaunchedAt = null;
        JobLog.Ended(_logger, job.Id, job.Name, job.Status);
        if (ending is null && code != 0 && job.Restarts < job.RestartMax)
        {
            job.Restarts++;
            JobLog.Restarting(_logger, job.Id, job.Name, job.Restarts, job.RestartMax, status);
            Launch(job);
            return;
        }

        if (job.AutoRemove)
        {
            Delete(job);
            return;
        }

        Save(job);
    }

    private void Launch(JobRecord job)
    {
        var dir = _launcher.JobDir(job.Id);
        job.Pid = 0;
        job.ProcessStart = 0;
        job.WrapperPid = 0;
        job.WrapperStart = 0;
        job.Ending = null;
        job.EndAt = null;
        job.StartAt = _time.GetUtcNow();
        if (Resolve(job.Command[0], Path.Combine(dir, "files")) is { } missing)
        {
            job.Status = $"failed:{missing}";
            job.EndAt = job.StartAt;
            JobLog.LaunchFailed(_logger, job.Id, missing);
            Save(job);
            return;
        }

        try
        {
            _launcher.Launch(job);
            job.Status = "running";
            job.LaunchedAt = _time.GetUtcNow();
            JobLog.Started(_logger, job.Id, job.Name, string.Join(' ', job.Command));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            job.Status = $"failed:{e.Message}";
            job.EndAt = job.StartAt;
            JobLog.LaunchFailed(_logger, job.Id, e.Message);
        }

        Save(job);
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    /// <summary>Null when the executable can be found, else why not.</summary>
    private static string? Resolve(string exe, string workDir)
    {
        if (exe.Contains('/'))
        {
            return File.Exists(Path.Combine(workDir, exe)) ? null : $"{exe} not found";
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, exe)))
            {
                return null;
            }
        }

        return $"{exe} not found on PATH";
    }

    private void Save(JobRecord job)
    {
        var dir = _launcher.JobDir(job.Id);
        if (Directory.Exists(dir))
        {
            job.Save(dir);
        }
    }

    private void Delete(JobRecord job)
    {
        _jobs.Remove(job.Id);
        try
        {
            Directory.Delete(_launcher.JobDir(job.Id), recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }

        if (job.Group is { } group && !_jobs.Values.Any(j => j.Group == group))
        {
            _launcher.EndGroup(group);
        }
    }

    private JobRecord Get(string id) =>
        _jobs.TryGetValue(id, out var job) ? job : throw new LocalApiException(404, $"no job with id '{id}'");

    private List<JobRecord> Match(string pattern)
    {
        if (string.IsNullOrEmpty(pattern))
        {
            throw new LocalApiException(400, "a job id, name, group or name pattern is required");
        }

        if (_jobs.TryGetValue(pattern, out var byId))
        {
            return [byId];
        }

        var jobs = Ordered(_jobs.Values);
        List<JobRecord> found = pattern.Contains('*')
            ? [.. jobs.Where(j => Wildcard(pattern, j.Name))]
            : [.. jobs.Where(j => j.Name == pattern)];
        if (found.Count == 0 && !pattern.Contains('*'))
        {
            found = [.. jobs.Where(j => j.Group == pattern)];
        }

        return found.Count > 0 ? found : throw new LocalApiException(404, $"no job matches '{pattern}' (by id, name, group or name pattern)");
    }

    private static IEnumerable<JobRecord> Ordered(IEnumerable<JobRecord> jobs) =>
        jobs.OrderBy(static j => j.CreatedAt).ThenBy(static j => j.Id, StringComparer.Ordinal);

    /// <summary>'*' matches any run of characters.</summary>
    internal static bool Wildcard(string pattern, string value)
    {
        var parts = pattern.Split('*');
        if (!value.StartsWith(parts[0], StringComparison.Ordinal))
        {
            return false;
        }

        var at = parts[0].Length;
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var next = value.IndexOf(parts[i], at, StringComparison.Ordinal);
            if (next < 0)
            {
                return false;
            }

            at = next + parts[i].Length;
        }

        return value.Length - at >= parts[^1].Length && value.EndsWith(parts[^1], StringComparison.Ordinal);
    }

    private JsonObject Describe(JobRecord job) => new()
    {
        ["id"] = job.Id,
        ["name"] = job.Name,
        ["group"] = job.Group ?? "",
        ["command"] = new JsonArray([.. job.Command.Select(static c => (JsonNode?)c)]),
        ["restart"] = job.RestartMax,
        ["rm"] = job.AutoRemove,
        ["startAt"] = job.StartAt?.ToString("O"),
        ["endAt"] = job.EndAt?.ToString("O"),
        ["status"] = job.Status,
        ["restarts"] = job.Restarts,
        ["pid"] = job.Pid,
        ["dir"] = _launcher.JobDir(job.Id),
    };
}
