using System.Collections.Concurrent;
using System.Diagnostics;
using Trellis.Core.Bus;
using Trellis.Core.Diagnostics;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Xunit;

namespace Trellis.TestKit.Messaging;

/// <summary>Tracing on the bus: across a broker, a producer span per publish whose <c>traceparent</c> travels with the
/// message; a consumer span around the handler, current while it runs, parented to the producer span or, in process, to
/// the caller's span.</summary>
public abstract partial class TransportConformance
{
    private const string TestSourceName = "Trellis.Tests.Conformance";
    private static readonly ActivitySource TestSource = new(TestSourceName);

    /// <summary>What a handler saw as its current activity.</summary>
    private sealed record SeenSpan(ActivityTraceId TraceId, ActivitySpanId SpanId, ActivitySpanId ParentSpanId, ActivityKind Kind, string Source, string Name);

    private static SeenSpan? Seen() =>
        Activity.Current is { } a ? new SeenSpan(a.TraceId, a.SpanId, a.ParentSpanId, a.Kind, a.Source.Name, a.DisplayName) : null;

    /// <summary>Listens to the Trellis source and this suite's own, recording every span; stopped spans are kept.</summary>
    private sealed class Spans : IDisposable
    {
        private readonly ActivityListener _listener;

        public Spans()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = static s => s.Name is TrellisTelemetry.Name or TestSourceName,
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = a => Stopped.Enqueue(a),
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public ConcurrentQueue<Activity> Stopped { get; } = new();

        public Activity[] Of(ActivityTraceId trace) => Stopped.Where(a => a.TraceId == trace).ToArray();

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Whether <paramref name="bus"/>'s transport gives a publish a producer span (a broker's does; in process
    /// a signal's or durable message's consumer span is the caller's child, and a request runs under the caller's span).</summary>
    private static bool HasProducerSpans(MessageBus bus) =>
        MessagingTracing.HasProducerSpans(MessagingTracing.SystemOf(bus.Transport.Name));

    /// <summary>The first span of <paramref name="kind"/> that stopped in <paramref name="root"/>'s trace, once there is one.</summary>
    private static async Task<Activity> SpanOfKindAsync(Spans spans, Activity root, ActivityKind kind, string what) =>
        (await Waits.UntilAsync(() => Task.FromResult(spans.Of(root.TraceId).FirstOrDefault(a => a.Kind == kind)), a => a is not null, what))!;

    /// <summary>The span a consumer span is parented to, and the trace's one producer span when the transport has them
    /// (checked to be <paramref name="root"/>'s child); without them, the caller's own span and no producer span.</summary>
    private static async Task<(ActivitySpanId Parent, Activity? Producer)> ConsumerParentAsync(Spans spans, MessageBus client, Activity root, string what)
    {
        if (!HasProducerSpans(client))
        {
            Assert.DoesNotContain(spans.Of(root.TraceId), a => a.Kind == ActivityKind.Producer);
            return (root.SpanId, null);
        }

        await SpanOfKindAsync(spans, root, ActivityKind.Producer, $"the producer span of {what} in trace {root.TraceId}");
        var producer = spans.Of(root.TraceId).Single(a => a.Kind == ActivityKind.Producer);
        Assert.Equal(root.SpanId, producer.ParentSpanId);
        return (producer.SpanId, producer);
    }

    [Fact]
    public async Task A_request_carries_its_trace_to_the_handler()
    {
        using var spans = new Spans();
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var topic = Topic("traced");
        var seen = new ConcurrentQueue<SeenSpan?>();
        await server.ReplyToAsync(topic, "_default", async (r, _) =>
        {
            seen.Enqueue(Seen());
            await Task.Yield();
            // Still inside the same span after an await: the handler's own calls join the trace.
            seen.Enqueue(Seen());
            return new Message(r.Data, Codes.Ok);
        });

        foreach (var round in new[] { 1, 2 })
        {
            using var root = TestSource.StartActivity($"requester {round}", ActivityKind.Internal)!;
            var reply = await client.RequestAsync(topic, JsonPayload.Parse(round.ToString())).Within($"reply {round}");
            Assert.Equal(Codes.Ok, reply.Code);
            root.Stop();

            var handler = seen.ToArray()[^2..];
            if (!HasProducerSpans(client))
            {
                // In process the handler runs under the requester's own span, as a method it called would: no producer
                // or consumer span of the bus's.
                foreach (var span in handler)
                {
                    Assert.NotNull(span);
                    Assert.Equal((root.TraceId, root.SpanId, TestSourceName), (span!.TraceId, span.SpanId, span.Source));
                }

                Assert.DoesNotContain(spans.Of(root.TraceId), a => a.Source.Name == TrellisTelemetry.Name);
                continue;
            }

            var (parent, producer) = await ConsumerParentAsync(spans, client, root, $"request {round}");
            Assert.Equal(TrellisTelemetry.Name, producer!.Source.Name);
            Assert.Equal($"publish {topic}", producer.DisplayName);
            Assert.Equal(topic, producer.GetTagItem("messaging.destination.name"));
            Assert.Equal("publish", producer.GetTagItem("messaging.operation.type"));
            Assert.Equal("rabbitmq", producer.GetTagItem("messaging.system"));
            Assert.Equal(Codes.Ok, producer.GetTagItem(TrellisTelemetry.Tags.Code));
            foreach (var span in handler)
            {
                Assert.NotNull(span);
                Assert.Equal((root.TraceId, parent, ActivityKind.Consumer, TrellisTelemetry.Name, $"process {topic}"),
                    (span!.TraceId, span.ParentSpanId, span.Kind, span.Source, span.Name));
            }

            var consumer = await SpanOfKindAsync(spans, root, ActivityKind.Consumer, $"the consumer span of request {round} to stop");
            Assert.Equal(MessagingTracing.SystemOf(client.Transport.Name), consumer.GetTagItem("messaging.system"));
            Assert.Equal(Codes.Ok, consumer.GetTagItem(TrellisTelemetry.Tags.Code));
        }
    }

    [Fact]
    public async Task A_request_names_its_handlers_span_and_a_handler_that_passes_it_on_gets_it_as_a_value()
    {
        using var spans = new Spans();
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var plain = Topic("traced.plain");
        var forwarded = Topic("traced.forwarded");
        var seen = new ConcurrentQueue<(string Topic, string? TraceParent, string? TraceState, string? CurrentId)>();
        RequestHandler record = (r, _) =>
        {
            seen.Enqueue((r.Topic, r.TraceParent, r.TraceState, Activity.Current?.Id));
            return ValueTask.FromResult(new Message(r.Data, Codes.Ok));
        };
        await server.ReplyToAsync(plain, "_default", record);
        await server.ReplyToAsync(forwarded, "_default", record, new HandlerOptions { PassesTraceOn = true });

        foreach (var topic in new[] { plain, forwarded })
        {
            using var root = TestSource.StartActivity($"requester of {topic}", ActivityKind.Internal)!;
            root.TraceStateString = "vendor=trellis";
            Assert.Equal(Codes.Ok, (await client.RequestAsync(topic, JsonPayload.Parse("1")).Within($"the reply on {topic}")).Code);
            root.Stop();

            var (_, traceParent, traceState, currentId) = Assert.Single(seen, s => s.Topic == topic);
            Assert.NotNull(traceParent);
            Assert.Equal("vendor=trellis", traceState);
            if (!HasProducerSpans(client))
            {
                // In process: the requester's own span, current around the handler unless it only passes the context on,
                // and no span of the bus's either way.
                Assert.Equal(root.Id, traceParent);
                if (topic == plain)
                {
                    Assert.Equal(root.Id, currentId);
                }

                Assert.DoesNotContain(spans.Of(root.TraceId), a => a.Source.Name == TrellisTelemetry.Name);
                continue;
            }

            // Across a broker: the consumer span, current around either handler.
            var consumer = await SpanOfKindAsync(spans, root, ActivityKind.Consumer, $"the consumer span on {topic} to stop");
            Assert.Equal(consumer.Id, traceParent);
            Assert.Equal(consumer.Id, currentId);
        }
    }

    [Fact]
    public async Task Only_services_pass_their_trace_on()
    {
        var bus = await ProcessAsync();
        var options = new HandlerOptions { PassesTraceOn = true };
        var slot = await Assert.ThrowsAsync<TrellisException>(async () => await bus.SlotAsync(Topic("pass.slot"), (_, _) => default, options: options));
        Assert.Contains("PassesTraceOn applies only to services", slot.Message);
        var durable = await Assert.ThrowsAsync<TrellisException>(async () => await bus.SubscribeDurableAsync(Topic("pass.durable"), "g", (_, _) => default, options));
        Assert.Contains("PassesTraceOn applies only to services", durable.Message);
    }

    [Fact]
    public async Task A_request_whose_requester_gave_up_reaches_its_handler_in_a_consumer_span_of_the_requesters_trace()
    {
        using var spans = new Spans();
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var topic = Topic("traced.late");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new TaskCompletionSource<SeenSpan?>(TaskCreationOptions.RunContinuationsAsynchronously);
        // One handler at a time: the second request waits for the first, and reaches its handler after its requester
        // (whose wait is short) has stopped its span, so in process there is no live span of the requester's to run under.
        await server.ReplyToAsync(topic, "_default", async (r, _) =>
        {
            if (r.Data.ToString() == "1")
            {
                await release.Task;
            }
            else
            {
                seen.TrySetResult(Seen());
            }

            return new Message(r.Data, Codes.Ok);
        }, new HandlerOptions { Concurrency = 1 });

        var first = client.RequestAsync(topic, JsonPayload.Parse("1"));
        var root = TestSource.StartActivity("impatient requester", ActivityKind.Internal)!;
        var late = await client.RequestAsync(topic, JsonPayload.Parse("2"), TimeSpan.FromMilliseconds(200));
        Assert.Equal(Codes.RequestTimeout, late.Code);
        root.Stop();

        release.SetResult();
        Assert.Equal(Codes.Ok, (await first.Within("the first reply")).Code);
        var span = await seen.Task.Within("the late request's handler");
        var (parent, _) = await ConsumerParentAsync(spans, client, root, "the late request");
        Assert.NotNull(span);
        Assert.Equal((root.TraceId, parent, ActivityKind.Consumer, TrellisTelemetry.Name, $"process {topic}"),
            (span!.TraceId, span.ParentSpanId, span.Kind, span.Source, span.Name));
    }

    [Fact]
    public async Task Signals_and_durable_messages_carry_their_trace_to_the_handler()
    {
        using var spans = new Spans();
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var signalTopic = Topic("traced.signal");
        var durableTopic = Topic("traced.durable");
        var signalSeen = new TaskCompletionSource<SeenSpan?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var durableSeen = new TaskCompletionSource<SeenSpan?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.SlotAsync(signalTopic, (_, _) => { signalSeen.TrySetResult(Seen()); return default; });
        await server.SubscribeDurableAsync(durableTopic, "traced", (_, _) => { durableSeen.TrySetResult(Seen()); return default; });

        using (var root = TestSource.StartActivity("signaller")!)
        {
            Assert.Equal(Trellis.Core.Transport.PublishStatus.Routed, await client.SignalAsync(signalTopic, JsonPayload.Parse("1")));
            var span = await signalSeen.Task.Within("the slot to run");
            Assert.NotNull(span);
            Assert.Equal((root.TraceId, ActivityKind.Consumer), (span!.TraceId, span.Kind));
            Assert.Equal((await ConsumerParentAsync(spans, client, root, "the signal")).Parent, span.ParentSpanId);
        }

        using (var root = TestSource.StartActivity("publisher")!)
        {
            Assert.Equal(Trellis.Core.Transport.PublishStatus.Routed, await client.PublishDurableAsync(durableTopic, JsonPayload.Parse("2"), "traced-1"));
            var span = await durableSeen.Task.Within("the durable handler to run");
            Assert.NotNull(span);
            Assert.Equal((root.TraceId, ActivityKind.Consumer), (span!.TraceId, span.Kind));
            var (parent, producer) = await ConsumerParentAsync(spans, client, root, "the durable message");
            Assert.Equal(parent, span.ParentSpanId);
            if (producer is not null)
            {
                Assert.Equal("traced-1", producer.GetTagItem("messaging.message.id"));
            }
        }
    }
}
