namespace Trellis.Edge.Jobs;

/// <summary>A job as <c>ps</c> shows it and the link reports it.</summary>
/// <param name="Status">running, stopped, exited:&lt;code&gt;, killed:&lt;signal&gt; or failed:&lt;why&gt;.</param>
public sealed record JobSnapshot(string Id, string Name, string Group, DateTimeOffset? StartAt, string Status, int Restarts);

/// <summary>The device's jobs, as the link reports them to the cluster.</summary>
public interface IJobTable
{
    IReadOnlyList<JobSnapshot> Snapshot();

    /// <summary>Raised after any change of the table (a job started, ended, was removed).</summary>
    event Action? Changed;
}
