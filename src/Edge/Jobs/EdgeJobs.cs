using Microsoft.Extensions.Logging;
using Trellis.Edge.Daemon;
using Trellis.Edge.Local;

namespace Trellis.Edge.Jobs;

/// <summary>The daemon's jobs: a <see cref="JobManager"/> on WorkDir/jobs (re-adopting what runs) with its routes mapped.
/// Disposing stops watching and never kills a job.</summary>
public sealed class EdgeJobs : IAsyncDisposable
{
    private EdgeJobs(JobManager manager) => Manager = manager;

    public JobManager Manager { get; }

    public IJobTable Table => Manager;

    public static Task<EdgeJobs> StartAsync(EdgeOptions options, LocalRouter router, ILogger logger, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var manager = new JobManager(Path.Combine(options.WorkDir, "jobs"), logger);
        manager.Start();
        JobRoutes.Map(router, manager);
        return Task.FromResult(new EdgeJobs(manager));
    }

    public ValueTask DisposeAsync() => Manager.DisposeAsync();
}
