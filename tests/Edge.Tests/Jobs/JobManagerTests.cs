using System.Text;
using Trellis.Edge.Jobs;
using Trellis.Edge.Jobs.Internal;
using Trellis.Edge.Local;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Jobs;

public sealed class JobManagerTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "trellis-jobs-" + Guid.NewGuid().ToString("N"));
    private readonly List<JobManager> _managers = [];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var manager in _managers)
        {
            foreach (var job in manager.Snapshot().Where(static j => j.Status == "running"))
            {
                await manager.KillAsync(job.Id, force: true);
            }

            await manager.DisposeAsync();
        }

        foreach (var group in Directory.Exists(Path.Combine(_root, ".groups")) ? Directory.GetDirectories(Path.Combine(_root, ".groups")) : [])
        {
            if (JobLauncher.ReadPid(Path.Combine(group, "runner.pid")) is { } runner)
            {
                ProcFs.Signal(runner, ProcFs.SigKill);
            }
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private JobManager NewManager()
    {
        var manager = new JobManager(_root);
        manager.Start();
        _managers.Add(manager);
        return manager;
    }

    private static Task<JobSnapshot> StatusAsync(JobManager jobs, string id, Func<string, bool> done, string what) =>
        Waits.UntilAsync(() => Task.FromResult(jobs.Find(id)[0]), j => done(j.Status), $"job {id} to be {what}");

    [Fact]
    public async Task A_job_runs_and_exits_with_its_code_and_its_output_in_the_log()
    {
        var jobs = NewManager();
        var job = jobs.Run(new JobSpec("hello", ["sh", "-c", "echo out; echo err >&2; sleep 0.3; exit 3"]));
        Assert.Equal("running", job.Status);
        Assert.Equal("hello", job.Name);

        var ended = await StatusAsync(jobs, job.Id, static s => s != "running", "ended");
        Assert.Equal("exited:3", ended.Status);
        var log = await File.ReadAllTextAsync(jobs.LogPath(job.Id), TestContext.Current.CancellationToken);
        Assert.Contains("out", log);
        Assert.Contains("err", log);

        var ok = jobs.Run(new JobSpec(null, ["true"]));
        Assert.Equal("true", ok.Name);
        await StatusAsync(jobs, ok.Id, static s => s == "exited:0", "exited:0");

        var missing = jobs.Run(new JobSpec(null, ["no-such-program-" + Guid.NewGuid().ToString("N")]));
        Assert.StartsWith("failed:", missing.Status);
    }

    [Fact]
    public async Task Restart_n_restarts_a_failing_job_n_times_and_rm_removes_an_ended_one()
    {
        var jobs = NewManager();
        var failing = jobs.Run(new JobSpec("flaky", ["sh", "-c", "echo run; exit 1"], Restart: 2));
        var ended = await StatusAsync(jobs, failing.Id, static s => s != "running", "ended after its restarts");
        await Waits.UntilAsync(() => Task.FromResult(jobs.Find(failing.Id)[0]), static j => j.Status == "exited:1" && j.Restarts == 2, $"job {failing.Id} to end as exited:1 after 2 restarts");
        var runs = (await File.ReadAllTextAsync(jobs.LogPath(failing.Id), TestContext.Current.CancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, runs.Length);

        var removed = jobs.Run(new JobSpec("once", ["true"], Remove: true));
        await Waits.UntilAsync(() => Task.FromResult(jobs.Snapshot()), s => s.All(j => j.Id != removed.Id), $"job {removed.Id} (--rm) to disappear when it exits");
        Assert.False(Directory.Exists(Path.Combine(_root, removed.Id)));
        Assert.NotNull(ended);
    }

    [Fact]
    public async Task Stop_start_kill_and_rm_by_id_name_and_wildcard()
    {
        var jobs = NewManager();
        var name = "sleeper-" + Guid.NewGuid().ToString("N")[..6];
        var job = jobs.Run(new JobSpec(name, ["sleep", "60"]));

        var stopped = await jobs.StopAsync(name, TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.Equal("stopped", Assert.Single(stopped).Status);

        var started = jobs.StartAgain(job.Id);
        Assert.Equal("running", Assert.Single(started).Status);
        await Waits.UntilAsync(() => Task.FromResult(jobs.Describe(job.Id)["pid"]!.GetValue<int>()), static pid => pid > 0, $"job {job.Id} to record its pid");

        var refused = Assert.Throws<LocalApiException>(() => jobs.Remove(job.Id));
        Assert.Equal(409, refused.Status);
        Assert.Contains(job.Id, refused.Message);

        var killed = await jobs.KillAsync("sleeper-*", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("killed:9", Assert.Single(killed).Status);

        Assert.Equal([job.Id], jobs.Remove(name));
        Assert.Empty(jobs.Snapshot());
        Assert.Equal(404, Assert.Throws<LocalApiException>(() => jobs.Find(name)).Status);
    }

    [Fact]
    public async Task A_job_outlives_its_manager_and_a_new_manager_adopts_it_and_notices_its_exit()
    {
        var first = NewManager();
        var marker = Path.Combine(_root, "go-" + Guid.NewGuid().ToString("N"));
        var job = first.Run(new JobSpec("ticker", ["sh", "-c", $"while [ ! -e '{marker}' ]; do echo tick; sleep 0.1; done; exit 7"]));
        var pid = await Waits.UntilAsync(() => Task.FromResult(first.Describe(job.Id)["pid"]!.GetValue<int>()), static p => p > 0, $"job {job.Id} to record its pid");
        await first.DisposeAsync();
        _managers.Remove(first);

        var second = NewManager();
        var adopted = second.Find(job.Id)[0];
        Assert.Equal("running", adopted.Status);
        Assert.Equal(pid, second.Describe(job.Id)["pid"]!.GetValue<int>());
        var length = new FileInfo(second.LogPath(job.Id)).Length;
        await Waits.UntilAsync(() => Task.FromResult(new FileInfo(second.LogPath(job.Id)).Length), l => l > length, $"the log of adopted job {job.Id} to keep growing");

        await File.WriteAllTextAsync(marker, "", TestContext.Current.CancellationToken);
        await StatusAsync(second, job.Id, static s => s == "exited:7", "exited:7 (noticed by the adopting manager)");
    }

    [Fact]
    public async Task Jobs_of_one_group_share_a_process_group_and_die_together()
    {
        var jobs = NewManager();
        var group = "g" + Guid.NewGuid().ToString("N")[..8];
        var a = jobs.Run(new JobSpec("a", ["sleep", "60"], Group: group));
        var b = jobs.Run(new JobSpec("b", ["sleep", "60"], Group: group));
        var other = jobs.Run(new JobSpec("c", ["sleep", "60"]));
        int Pid(string id) => jobs.Describe(id)["pid"]!.GetValue<int>();
        await Waits.UntilAsync(() => Task.FromResult(new[] { Pid(a.Id), Pid(b.Id), Pid(other.Id) }), static p => p.All(x => x > 0), "the three jobs to record their pids");

        var groupA = ProcFs.ProcessGroup(Pid(a.Id));
        Assert.NotNull(groupA);
        Assert.Equal(groupA, ProcFs.ProcessGroup(Pid(b.Id)));
        Assert.NotEqual(groupA, ProcFs.ProcessGroup(Pid(other.Id)));
        Assert.Equal(group, jobs.Find(a.Id)[0].Group);

        var killed = await jobs.KillAsync(group, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(["killed:9", "killed:9"], killed.Select(static j => j.Status).ToArray());
        Assert.Equal("running", jobs.Find(other.Id)[0].Status);

        Assert.Equal(2, jobs.Remove(group).Count);
        Assert.False(Directory.Exists(Path.Combine(_root, ".groups", group)));
    }

    [Fact]
    public async Task A_job_runs_in_its_directory_with_the_files_it_was_given()
    {
        var jobs = NewManager();
        var script = Encoding.UTF8.GetBytes("#!/bin/sh\ncat data/input.txt\n");
        var job = jobs.Run(new JobSpec("script", ["./run.sh"], Files: new Dictionary<string, byte[]>
        {
            ["run.sh"] = script,
            ["data/input.txt"] = Encoding.UTF8.GetBytes("payload-42"),
        }));
        await StatusAsync(jobs, job.Id, static s => s == "exited:0", "exited:0");
        Assert.Contains("payload-42", await File.ReadAllTextAsync(jobs.LogPath(job.Id), TestContext.Current.CancellationToken));

        Assert.Equal(400, Assert.Throws<LocalApiException>(() => jobs.Run(new JobSpec("bad", ["true"], Files: new Dictionary<string, byte[]> { ["../escape"] = [] }))).Status);
    }
}
