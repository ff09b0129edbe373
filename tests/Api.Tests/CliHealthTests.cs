using Trellis.Api.Tests.Infrastructure;
using Trellis.Cli;
using Trellis.TestKit;
using static Trellis.Api.Tests.Activities.ActivityTesting;

namespace Trellis.Api.Tests;

/// <summary><c>trellis health</c> and <c>trellis grpc</c>: 0 against a running process, 3 when nothing answers (as the
/// flow verbs do).</summary>
public sealed class CliHealthTests
{
    [Fact]
    public async Task Health_and_grpc_exit_3_when_nothing_answers()
    {
        var nowhere = $"http://127.0.0.1:{FreePorts.Take(1)[0]}";

        var health = await CliAsync("health", "--url", nowhere);
        Assert.True(health.Exit == CliApp.Unreachable, health.ToString());
        Assert.Contains("cannot reach", health.Err, StringComparison.Ordinal);

        var grpcHealth = await CliAsync("grpc", "health", "--grpc-url", nowhere);
        Assert.True(grpcHealth.Exit == CliApp.Unreachable, grpcHealth.ToString());
        Assert.Contains("cannot reach", grpcHealth.Err, StringComparison.Ordinal);

        var grpcList = await CliAsync("grpc", "list", "--grpc-url", nowhere);
        Assert.True(grpcList.Exit == CliApp.Unreachable, grpcList.ToString());
    }

    [Fact]
    public async Task Health_and_grpc_exit_0_against_a_running_gateway()
    {
        await using var gateway = await TestGateway.StartAsync();
        await Waits.UntilAsync(async () => (await gateway.GetAsync("/readyz", null)).Status, static s => s == 200, "the gateway's /readyz to answer 200");

        var health = await CliAsync("health", "--url", gateway.Address.ToString());
        Assert.True(health.Exit == CliApp.Ok, health.ToString());
        Assert.Contains("/healthz  200", health.Out, StringComparison.Ordinal);
        Assert.Contains("/readyz   200", health.Out, StringComparison.Ordinal);

        var grpcHealth = await CliAsync("grpc", "health", "--grpc-url", gateway.GrpcAddress!.ToString());
        Assert.True(grpcHealth.Exit == CliApp.Ok, grpcHealth.ToString());
        Assert.Contains("(server) Serving", grpcHealth.Out, StringComparison.Ordinal);

        var grpcList = await CliAsync("grpc", "list", "--grpc-url", gateway.GrpcAddress!.ToString());
        Assert.True(grpcList.Exit == CliApp.Ok, grpcList.ToString());
        Assert.Contains("trellis.v1.Nodes", grpcList.Out, StringComparison.Ordinal);
    }
}
