using Orleans.Runtime;

namespace Trellis.Grains.Cluster;

/// <summary>Which failures of a call into the cluster mean "the cluster cannot answer now", to be reported as
/// UNAVAILABLE (HTTP 503) or retried, rather than as a fault of the server's own.</summary>
/// <remarks>While silos die and join, a grain call can fail in three ways that say nothing about the call itself:
/// Orleans rejects it (<see cref="OrleansException"/>: a silo unavailable, a message rejected), it does not answer in
/// time (<see cref="TimeoutException"/>), or the grain directory cancels the lookup under it because the directory range
/// that holds the grain is changing hands (<see cref="OperationCanceledException"/>, although the caller cancelled
/// nothing).</remarks>
public static class ClusterFaults
{
    /// <summary>True when <paramref name="exception"/> is the cluster's passing failure rather than the caller's own
    /// cancellation (<paramref name="caller"/>) or a fault in the call.</summary>
    public static bool CannotAnswerNow(Exception exception, CancellationToken caller = default) =>
        exception switch
        {
            OrleansException or TimeoutException => true,
            OperationCanceledException => !caller.IsCancellationRequested,
            _ => false,
        };
}
