using System.Diagnostics;
using Trellis.Core.Transport;
using Xunit;

namespace Trellis.Core.Tests;

/// <summary>A message's trace context: the value the bus sets, and the W3C text a broker carries.</summary>
public sealed class TransportMessageTests
{
    [Theory]
    [InlineData(ActivityTraceFlags.Recorded, "01")]
    [InlineData(ActivityTraceFlags.None, "00")]
    public void The_traceparent_of_a_trace_context_is_its_W3C_text(ActivityTraceFlags flags, string expectedFlags)
    {
        var context = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), flags, "vendor=1");
        var message = new TransportMessage { Topic = "t", TraceContext = context };

        Assert.Equal($"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{expectedFlags}", message.TraceParent);
        Assert.Equal("vendor=1", message.TraceState);
        Assert.True(ActivityContext.TryParse(message.TraceParent, message.TraceState, out var parsed));
        Assert.Equal(context.TraceId, parsed.TraceId);
        Assert.Equal(context.SpanId, parsed.SpanId);
        Assert.Equal(flags, parsed.TraceFlags);
    }

    [Fact]
    public void A_started_activity_s_context_formats_to_its_own_id()
    {
        using var activity = new Activity("test").SetIdFormat(ActivityIdFormat.W3C).Start();
        var message = new TransportMessage { Topic = "t", TraceContext = activity.Context };

        Assert.Equal(activity.Id, message.TraceParent);
        Assert.Null(message.TraceState);
    }

    [Fact]
    public void Without_a_context_there_is_no_traceparent_and_a_received_one_is_kept_as_it_came()
    {
        Assert.Null(new TransportMessage { Topic = "t" }.TraceParent);

        const string received = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var message = new TransportMessage { Topic = "t", TraceParent = received, TraceState = "a=b" };
        Assert.Equal(received, message.TraceParent);
        Assert.Equal("a=b", message.TraceState);
        Assert.Equal(default, message.TraceContext);
    }
}
