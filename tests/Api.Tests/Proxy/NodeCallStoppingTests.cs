using System.Net;
using System.Net.Sockets;
using Trellis.Api.Proxy.Internal;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Xunit;

namespace Trellis.Api.Tests.Proxy;

/// <summary>How a node call ends when the gateway stops while the node is still working on it, for HTTP nodes and for
/// nodes on a gRPC Connect stream.</summary>
public sealed class NodeCallStoppingTests
{
    [Fact]
    public async Task A_call_cut_short_by_the_gateway_stopping_is_unavailable_not_a_handler_error()
    {
        // A node that takes the connection and the request, then never answers.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepting = listener.AcceptTcpClientAsync();

        var subscription = new NodeSubscription("slow.work", "workers", "/work", TimeSpan.FromSeconds(30));
        var node = new NodeRecord("0123456789abcdef0123456789abcdef", NodeRecord.LoopbackHost, port, "/health", [], [subscription], NodeStatus.Ok, [], DateTimeOffset.UtcNow);
        using var stopping = new CancellationTokenSource();
        var client = new NodeClient(TimeProvider.System);

        var call = client.CallAsync(node, subscription, "slow.work", "caller", JsonPayload.From(new { n = 1 }), default, 1 << 20, stopping.Token);
        using var accepted = await accepting.WaitAsync(TimeSpan.FromSeconds(10));
        var buffer = new byte[4096];
        Assert.True(await accepted.GetStream().ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)) > 0);
        Assert.False(call.IsCompleted);

        await StopAndAssertUnavailableAsync(stopping, call);
    }

    [Fact]
    public async Task A_stream_call_cut_short_by_the_gateway_stopping_is_unavailable_not_a_handler_error()
    {
        var subscription = new NodeSubscription("slow.work", "workers", "", TimeSpan.FromSeconds(30));
        var node = new NodeRecord("fedcba9876543210fedcba9876543210", NodeRecord.LoopbackHost, 0, "", [], [subscription], NodeStatus.Ok, [], DateTimeOffset.UtcNow);
        using var stopping = new CancellationTokenSource();
        var stream = new NodeStream("test", TimeProvider.System, 1 << 20);

        // The delivery goes out on the stream; the node never replies.
        var call = stream.RequestAsync(node, subscription, "slow.work", "caller", JsonPayload.From(new { n = 1 }), default, stopping.Token);
        var delivered = await stream.Outbound.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("slow.work", delivered.Request.Topic);
        Assert.False(call.IsCompleted);

        await StopAndAssertUnavailableAsync(stopping, call);
    }

    /// <summary>Cancels the gateway's stopping token under a call in flight: the call ends unavailable, not refused.</summary>
    private static async Task StopAndAssertUnavailableAsync(CancellationTokenSource stopping, Task<CallResult> call)
    {
        await stopping.CancelAsync();
        var result = await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(Codes.Unavailable, result.Reply.Code);
        Assert.Contains("the gateway is stopping", result.Reply.Data.ToString(), StringComparison.Ordinal);
        Assert.False(result.Refused);
    }
}
