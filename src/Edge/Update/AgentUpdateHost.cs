using System.Diagnostics;

namespace Trellis.Edge.Update;

/// <summary>What an update does to the running agent: which executable it replaces and restarts with which arguments, how
/// the daemon lets go of what the new agent needs and takes it back after a rollback, how a process is started and how
/// this one exits. The defaults act on the current process; tests replace the exit.</summary>
public sealed class AgentUpdateHost
{
    /// <summary>The executable that is replaced (default: this process's).</summary>
    public string ExecutablePath { get; init; } = Environment.ProcessPath ?? throw new InvalidOperationException("The agent's executable path is unknown");

    /// <summary>The arguments the new agent starts with (default: this process's).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = Environment.GetCommandLineArgs()[1..];

    /// <summary>Called before the new agent starts: close the local API's listeners and the link, so that it can open them.</summary>
    public Func<CancellationToken, Task> Release { get; init; } = static _ => Task.CompletedTask;

    /// <summary>Called after a rollback: open again what <see cref="Release"/> closed.</summary>
    public Func<CancellationToken, Task> Resume { get; init; } = static _ => Task.CompletedTask;

    /// <summary>Starts the new agent.</summary>
    public Func<ProcessStartInfo, Process> Start { get; init; } = static info =>
        Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start");

    /// <summary>Ends this process once the new agent is up (jobs run in processes of their own and carry on).</summary>
    public Action<int> Exit { get; init; } = Environment.Exit;
}
