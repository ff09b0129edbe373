using System.Diagnostics;
using System.Text;

namespace Trellis.Edge.Jobs.Internal;

/// <summary>Starts a job's process detached from the agent: through /bin/sh (its output appended to the job's log, its
/// exit code written to a file), in a session of its own (setsid) or, for a group, by the group's runner — a small sh
/// that leads the group's session and process group and starts every job of the group, so they truly share one.</summary>
/// <remarks>Files in a job's directory: run.sh (the wrapper), wrapper.pid, pid (the command's pid), log, exit.</remarks>
internal sealed class JobLauncher(string root)
{
    private const string SetSid = "/usr/bin/setsid";

    public string Root { get; } = root;

    public string JobDir(string id) => Path.Combine(Root, id);

    public string GroupDir(string group) => Path.Combine(Root, ".groups", group);

    /// <summary>Writes run.sh, clears the last run's pid and exit files, and starts the wrapper (directly or through
    /// the group's runner). Throws when the wrapper cannot be started.</summary>
    public void Launch(JobRecord job)
    {
        var dir = JobDir(job.Id);
        Directory.CreateDirectory(Path.Combine(dir, "files"));
        foreach (var name in new[] { "pid", "wrapper.pid", "exit", "exit.tmp" })
        {
            File.Delete(Path.Combine(dir, name));
        }

        var script = new StringBuilder();
        script.Append("echo $$ > ").Append(Quote(Path.Combine(dir, "wrapper.pid"))).Append('\n');
        script.Append("exec >> ").Append(Quote(Path.Combine(dir, "log"))).Append(" 2>&1 < /dev/null\n");
        script.Append("cd ").Append(Quote(Path.Combine(dir, "files"))).Append(" || { echo 126 > ").Append(Quote(Path.Combine(dir, "exit"))).Append("; exit 126; }\n");
        script.Append("/bin/sh -c 'echo $$ > \"$0\"; exec \"$@\"' ").Append(Quote(Path.Combine(dir, "pid")));
        foreach (var arg in job.Command)
        {
            script.Append(' ').Append(Quote(arg));
        }

        script.Append('\n');
        script.Append("echo $? > ").Append(Quote(Path.Combine(dir, "exit.tmp"))).Append(" && mv ").Append(Quote(Path.Combine(dir, "exit.tmp"))).Append(' ').Append(Quote(Path.Combine(dir, "exit"))).Append('\n');
        File.WriteAllText(Path.Combine(dir, "run.sh"), script.ToString());

        if (job.Group is { } group)
        {
            LaunchInGroup(group, job.Id);
        }
        else
        {
            Start(Path.Combine(dir, "run.sh"));
        }
    }

    /// <summary>Reads the pid a launched job's wrapper or command wrote, or null while it has not yet.</summary>
    public static int? ReadPid(string file)
    {
        try
        {
            return int.TryParse(File.ReadAllText(file).Trim(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The exit code the wrapper wrote, or null while the job has not ended.</summary>
    public int? ReadExit(string id) => ReadPid(Path.Combine(JobDir(id), "exit"));

    /// <summary>Asks the group's runner to leave once the group has no jobs left.</summary>
    public void EndGroup(string group)
    {
        var dir = GroupDir(group);
        if (RunnerAlive(dir))
        {
            Write(Path.Combine(dir, "fifo"), "exit\n");
        }

        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void LaunchInGroup(string group, string id)
    {
        var dir = GroupDir(group);
        var fifo = Path.Combine(dir, "fifo");
        if (!RunnerAlive(dir))
        {
            Directory.CreateDirectory(dir);
            File.Delete(Path.Combine(dir, "runner.pid"));
            if (!File.Exists(fifo))
            {
                Run("mkfifo", fifo);
            }

            // The runner holds its FIFO open read-write, so it never sees an end of file and the agent's writes never
            // block; it starts each job in the background, inside its own session and process group.
            var runner = new StringBuilder();
            runner.Append("echo $$ > ").Append(Quote(Path.Combine(dir, "runner.pid"))).Append('\n');
            runner.Append("exec 3<> ").Append(Quote(fifo)).Append(" < /dev/null > /dev/null 2>&1\n");
            runner.Append("while read -r id <&3; do\n");
            runner.Append("  case $id in exit) break;; */*|'') ;; *) /bin/sh ").Append(Quote(Root)).Append("/\"$id\"/run.sh 3<&- & ;; esac\n");
            runner.Append("done\n");
            File.WriteAllText(Path.Combine(dir, "runner.sh"), runner.ToString());
            Start(Path.Combine(dir, "runner.sh"));
            var deadline = Stopwatch.StartNew();
            while (!RunnerAlive(dir))
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(5))
                {
                    throw new InvalidOperationException($"the runner of group '{group}' did not start");
                }

                Thread.Sleep(10);
            }
        }

        Write(fifo, id + "\n");
    }

    private static bool RunnerAlive(string dir) =>
        ReadPid(Path.Combine(dir, "runner.pid")) is { } pid && ProcFs.StartTime(pid) is not null
        && File.Exists(Path.Combine(dir, "fifo"));

    private static void Write(string fifo, string line)
    {
        // Read-write: opening a FIFO so never blocks, whether or not the runner has it open.
        using var stream = new FileStream(fifo, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
        stream.Write(Encoding.UTF8.GetBytes(line));
    }

    private static void Start(string script)
    {
        var info = new ProcessStartInfo { UseShellExecute = false, WorkingDirectory = "/" };
        if (File.Exists(SetSid))
        {
            info.FileName = SetSid;
            info.ArgumentList.Add("/bin/sh");
        }
        else
        {
            info.FileName = "/bin/sh";
        }

        info.ArgumentList.Add(script);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start /bin/sh {script}");

        // Reaps the wrapper when it ends (no zombie while the agent runs).
        _ = process.WaitForExitAsync().ContinueWith(static (_, p) => ((Process)p!).Dispose(), process, TaskScheduler.Default);
    }

    private static void Run(string exe, params string[] args)
    {
        var info = new ProcessStartInfo(exe) { UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {exe}");
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed with {process.ExitCode}");
        }
    }

    /// <summary>A single-quoted sh word: nothing inside is expanded.</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
