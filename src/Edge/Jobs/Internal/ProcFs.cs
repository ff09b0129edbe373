using System.Runtime.InteropServices;

namespace Trellis.Edge.Jobs.Internal;

/// <summary>What the agent asks Linux about a job's processes: alive (not a zombie), their start time (guards against
/// pid reuse), their process group, and signals.</summary>
internal static partial class ProcFs
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>Field 22 of /proc/PID/stat (clock ticks since boot), or null when the process is gone or a zombie.</summary>
    public static long? StartTime(int pid) => Stat(pid) is { } stat && stat.State != 'Z' && stat.State != 'X' ? stat.Start : null;

    public static int? ProcessGroup(int pid) => Stat(pid)?.Group;

    /// <summary>Whether <paramref name="pid"/> runs and is the process that started at <paramref name="startTime"/>.</summary>
    public static bool IsAlive(int pid, long startTime) => pid > 0 && StartTime(pid) is { } start && (startTime == 0 || start == startTime);

    public static bool Signal(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    private static (char State, int Group, long Start)? Stat(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 20 || !int.TryParse(fields[2], out var group) || !long.TryParse(fields[19], out var start))
        {
            return null;
        }

        return (fields[0][0], group, start);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
