using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Trellis.Api.Errors;
using Trellis.Grains.Cluster;

namespace Trellis.Api.Tests;

/// <summary>A call the cluster cannot answer now (silos dying or joining) is UNAVAILABLE (503), one the caller cancelled
/// is not the cluster's failure, and anything else stays the server's own fault (500).</summary>
public sealed class ClusterFaultsTests
{
    public static TheoryData<Exception, bool, bool> Cases() => new()
    {
        { new OrleansException("rejected"), false, true },
        { new SiloUnavailableException("gone"), false, true },
        { new TimeoutException(), false, true },
        // The grain directory cancels a lookup whose range changes hands: the caller cancelled nothing.
        { new OperationCanceledException(), false, true },
        { new TaskCanceledException(), false, true },
        { new OperationCanceledException(), true, false },
        { new InvalidOperationException("a bug"), false, false },
        { new NullReferenceException(), false, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Only_the_clusters_passing_failures_count(Exception exception, bool callerCancelled, bool expected)
    {
        using var caller = new CancellationTokenSource();
        if (callerCancelled)
        {
            caller.Cancel();
        }

        Assert.Equal(expected, ClusterFaults.CannotAnswerNow(exception, caller.Token));
    }

    [Theory]
    [InlineData(typeof(SiloUnavailableException), 503, "UNAVAILABLE")]
    [InlineData(typeof(OperationCanceledException), 503, "UNAVAILABLE")]
    [InlineData(typeof(TimeoutException), 503, "UNAVAILABLE")]
    [InlineData(typeof(InvalidOperationException), 500, "INTERNAL")]
    public async Task An_unhandled_failure_is_answered_by_what_it_says_of_the_cluster(Type type, int status, string code)
    {
        var exception = (Exception)Activator.CreateInstance(type, "secret internals: 10.0.0.7:11111")!;
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = "/apps/a:poke";
        context.Response.Body = new MemoryStream();

        await ErrorResponses.WriteAsync(context, exception, NullLogger.Instance);

        Assert.Equal(status, context.Response.StatusCode);
        context.Response.Body.Position = 0;
        using var body = await JsonDocument.ParseAsync(context.Response.Body);
        var error = body.RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        // Neither answer carries the exception's text.
        Assert.DoesNotContain("secret", error.GetProperty("message").GetString());
    }
}
