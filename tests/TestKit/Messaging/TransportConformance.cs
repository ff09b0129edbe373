using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Bus;
using Trellis.Core.Compositions;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;
using Xunit;

namespace Trellis.TestKit.Messaging;

/// <summary>The rules of the messaging kernel, held against one transport. Each backend is a subclass
/// that says how to connect a new "process" (a transport instance) to the shared broker.</summary>
public abstract partial class TransportConformance : IAsyncLifetime
{
    private readonly List<MessageBus> _buses = [];
    private readonly string _prefix = $"c{Guid.NewGuid():N}"[..13];

    /// <summary>Connects a new, not yet started transport to the broker under test.</summary>
    protected abstract Task<ITransport> ConnectAsync();

    public virtual ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var bus in _buses)
        {
            await bus.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>A bus on a new transport: one "process" of the cluster.</summary>
    protected async Task<MessageBus> ProcessAsync(MessagingOptions? options = null)
    {
        var bus = await MessageBus.StartAsync(await ConnectAsync(), options);
        _buses.Add(bus);
        return bus;
    }

    /// <summary>A topic no other test uses.</summary>
    protected string Topic(string name) => $"{_prefix}.{name}";

    private static JsonPayload Json(string json) => JsonPayload.Parse(json);

    private static ValueTask<Message> Reply(JsonPayload data, int code = Codes.Ok) => ValueTask.FromResult(new Message(data, code));

    // ------------------------------------------------------------------ services

    [Fact]
    public async Task Request_without_subscriber_gets_404_at_once()
    {
        var bus = await ProcessAsync();
        var reply = await bus.RequestAsync(Topic("nobody.home"), Json("{}"), TimeSpan.FromSeconds(20)).Within("404 reply");
        Assert.Equal(Codes.NotFound, reply.Code);
        Assert.Contains("No active listeners", reply.Data.ToString());
    }

    [Fact]
    public async Task Request_gets_the_handler_reply_with_its_code()
    {
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        await server.ReplyToAsync(Topic("echo"), "_default", (r, _) => Reply(r.Data));
        await server.ReplyToAsync(Topic("teapot"), "_default", (_, _) => Reply(Json("\"short and stout\""), 418));

        var echo = await client.RequestAsync(Topic("echo"), Json("{\"x\":[1,2,3]}")).Within("echo reply");
        Assert.Equal(Codes.Ok, echo.Code);
        Assert.Equal("{\"x\":[1,2,3]}", echo.Data.ToString());

        var teapot = await client.RequestAsync(Topic("teapot"), JsonPayload.Null).Within("teapot reply");
        Assert.Equal(418, teapot.Code);
        Assert.Equal("\"short and stout\"", teapot.Data.ToString());
    }

    [Fact]
    public async Task A_handler_that_blocks_never_holds_up_the_requesters_call()
    {
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        using var gate = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.ReplyToAsync(Topic("blocking"), "_default", (r, _) =>
        {
            entered.TrySetResult();
            gate.Wait(Waits.Default);
            return Reply(r.Data);
        });

        // Handlers never run on the requester's thread: the call returns its task while the handler still blocks.
        var call = Task.Factory.StartNew(
            () => client.RequestAsync(Topic("blocking"), Json("1")), CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Default);
        var pending = await call.Within("RequestAsync to return while its handler blocks");
        await entered.Task.Within("the handler to start");
        Assert.False(pending.IsCompleted, "the request completed while its handler was still blocked");
        gate.Set();
        var reply = await pending.Within("the reply once the handler is released");
        Assert.Equal(Codes.Ok, reply.Code);
    }

    [Fact]
    public async Task A_requester_that_blocks_in_its_continuation_on_the_same_service_gets_both_replies()
    {
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        await server.ReplyToAsync(Topic("echo"), "_default", (r, _) => Reply(r.Data));

        // The first reply may resume the requester on the server's consumer loop; blocking there (sync over async) on
        // a second request to the same queue must not starve that queue.
        var (first, second) = await Task.Run(async () =>
        {
            var first = await client.RequestAsync(Topic("echo"), Json("1")).ConfigureAwait(false);
            var second = client.RequestAsync(Topic("echo"), Json("2")).GetAwaiter().GetResult();
            return (first, second);
        }).Within("both replies");
        Assert.Equal((Codes.Ok, "1"), (first.Code, first.Data.ToString()));
        Assert.Equal((Codes.Ok, "2"), (second.Code, second.Data.ToString()));
    }

    [Fact]
    public async Task A_group_of_three_executes_each_of_1000_requests_exactly_once()
    {
        var topic = Topic("work");
        var executions = new ConcurrentDictionary<int, int>();
        var members = new ConcurrentDictionary<int, int>();
        for (var m = 0; m < 3; m++)
        {
            var member = m;
            var bus = await ProcessAsync();
            await bus.ReplyToAsync(topic, "workers", (r, _) =>
            {
                var n = r.Data.As<int>();
                executions.AddOrUpdate(n, 1, (_, c) => c + 1);
                members.AddOrUpdate(member, 1, (_, c) => c + 1);
                return Reply(r.Data);
            });
        }

        var client = await ProcessAsync();
        var replies = new Message[1000];
        var throttle = new SemaphoreSlim(64);
        await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            await throttle.WaitAsync();
            try
            {
                replies[i] = await client.RequestAsync(topic, JsonPayload.From(i), TimeSpan.FromSeconds(30));
            }
            finally
            {
                throttle.Release();
            }
        })).Within("1000 replies", TimeSpan.FromSeconds(60));

        for (var i = 0; i < 1000; i++)
        {
            Assert.True(replies[i].Code == Codes.Ok, $"request {i}: code {replies[i].Code} {replies[i].Data}");
            Assert.Equal(i, replies[i].Data.As<int>());
            Assert.True(executions.TryGetValue(i, out var count) && count == 1, $"request {i} executed {count} times, expected once");
        }

        Assert.Equal(1000, members.Values.Sum());
    }

    [Fact]
    public async Task Two_groups_each_execute_a_request_and_the_first_reply_wins()
    {
        var topic = Topic("audit");
        var a = new CountdownSignal();
        var b = new CountdownSignal();
        var p1 = await ProcessAsync();
        var p2 = await ProcessAsync();
        await p1.ReplyToAsync(topic, "billing", (_, _) => { a.Increment(); return Reply(Json("\"billing\"")); });
        await p2.ReplyToAsync(topic, "archive", (_, _) => { b.Increment(); return Reply(Json("\"archive\"")); });

        var client = await ProcessAsync();
        var reply = await client.RequestAsync(topic, Json("{}")).Within("reply from either group");
        Assert.Equal(Codes.Ok, reply.Code);
        Assert.Contains(reply.Data.ToString(), new[] { "\"billing\"", "\"archive\"" });
        await a.WaitForAsync(1, "group billing to execute");
        await b.WaitForAsync(1, "group archive to execute");
    }

    [Fact]
    public async Task The_same_topic_and_group_twice_in_one_process_is_refused()
    {
        var bus = await ProcessAsync();
        await bus.ReplyToAsync(Topic("dup"), "g", (r, _) => Reply(r.Data));
        var e = await Assert.ThrowsAsync<Core.Errors.TrellisException>(async () => await bus.ReplyToAsync(Topic("dup"), "g", (r, _) => Reply(r.Data)));
        Assert.Contains("Duplicate reply handler", e.Message);
    }

    [Fact]
    public async Task After_the_last_member_unsubscribes_requests_get_404()
    {
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var subscription = await server.ReplyToAsync(Topic("leaving"), "_default", (r, _) => Reply(r.Data));
        Assert.Equal(Codes.Ok, (await client.RequestAsync(Topic("leaving"), Json("1")).Within("reply before leaving")).Code);

        await subscription.DisposeAsync();
        var after = await client.RequestAsync(Topic("leaving"), Json("1"), TimeSpan.FromSeconds(20)).Within("reply after leaving");
        Assert.Equal(Codes.NotFound, after.Code);
    }

    [Fact]
    public async Task A_handler_exception_gives_500_and_is_reported_on_the_error_channel()
    {
        var server = await ProcessAsync();
        var watcher = await ProcessAsync();
        var client = await ProcessAsync();
        var topic = Topic("explodes");
        var reported = new TaskCompletionSource<JsonPayload>(TaskCreationOptions.RunContinuationsAsynchronously);
        await watcher.SlotAsync(watcher.Options.ErrorTopic, (s, _) =>
        {
            if (s.Data.ToString().Contains(topic, StringComparison.Ordinal))
            {
                reported.TrySetResult(s.Data);
            }

            return ValueTask.CompletedTask;
        });
        await server.ReplyToAsync(topic, "_default", (_, _) => throw new InvalidOperationException("boom"));

        var reply = await client.RequestAsync(topic, Json("{\"k\":1}")).Within("500 reply");
        Assert.Equal(Codes.HandlerError, reply.Code);
        Assert.Contains("boom", reply.Data.ToString());

        var error = JsonNode.Parse((await reported.Task.Within("error report on the error channel")).ToString())!;
        Assert.Equal(500, (int)error["code"]!);
        Assert.Equal(topic, (string)error["topic"]!);
        Assert.Equal(1, (int)error["request_data"]!["k"]!);
        Assert.Contains(server.Errors.Snapshot(), e => e.Topic == topic && e.Code == Codes.HandlerError);
    }

    [Fact]
    public async Task A_requester_timeout_gives_499()
    {
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.ReplyToAsync(Topic("slow"), "_default", async (r, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return new Message(r.Data);
        });

        try
        {
            var reply = await client.RequestAsync(Topic("slow"), Json("1"), TimeSpan.FromMilliseconds(300)).Within("499 reply");
            Assert.Equal(Codes.RequestTimeout, reply.Code);
            Assert.Contains(client.Errors.Snapshot(), e => e.Code == Codes.RequestTimeout && e.Topic == Topic("slow"));
        }
        finally
        {
            gate.TrySetResult();
        }
    }

    [Fact]
    public async Task A_handler_past_its_timeout_gives_504_is_cancelled_and_its_late_reply_is_discarded()
    {
        var server = await ProcessAsync();
        var client = await ProcessAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        await server.ReplyToAsync(
            Topic("overrun"),
            "_default",
            async (r, ct) =>
            {
                if (Interlocked.Increment(ref calls) == 1)
                {
                    ct.Register(() => cancelled.TrySetResult());
                    await gate.Task;
                    return new Message(Json("\"late\""));
                }

                return new Message(Json("\"fresh\""));
            },
            new HandlerOptions { Timeout = TimeSpan.FromMilliseconds(200) });

        var reply = await client.RequestAsync(Topic("overrun"), Json("1"), TimeSpan.FromSeconds(20)).Within("504 reply");
        Assert.Equal(Codes.HandlerTimeout, reply.Code);
        await cancelled.Task.Within("the overrunning handler's token to be cancelled");

        gate.SetResult();
        var next = await client.RequestAsync(Topic("overrun"), Json("2")).Within("the next reply");
        Assert.Equal("\"fresh\"", next.Data.ToString());
    }

    // ------------------------------------------------------------------ slots

    [Fact]
    public async Task Group_less_slots_all_receive_and_each_group_gets_one_copy()
    {
        var topic = Topic("news");
        var p1 = await ProcessAsync();
        var p2 = await ProcessAsync();
        var loners = new[] { new CountdownSignal(), new CountdownSignal(), new CountdownSignal() };
        var groupTotal = new CountdownSignal();
        await p1.SlotAsync(topic, (_, _) => { loners[0].Increment(); return default; });
        await p1.SlotAsync(topic, (_, _) => { loners[1].Increment(); return default; });
        await p2.SlotAsync(topic, (_, _) => { loners[2].Increment(); return default; });
        await p1.SlotAsync(topic, (_, _) => { groupTotal.Increment(); return default; }, group: "readers");
        await p2.SlotAsync(topic, (_, _) => { groupTotal.Increment(); return default; }, group: "readers");

        var sender = await ProcessAsync();
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(PublishStatus.Routed, await sender.SignalAsync(topic, JsonPayload.From(i)));
        }

        for (var i = 0; i < loners.Length; i++)
        {
            await loners[i].WaitForAsync(10, $"group-less slot {i} to receive 10 signals");
        }

        await groupTotal.WaitForAsync(10, "group 'readers' to receive 10 signals in total");

        // A fence signal through the group: once it arrives, no extra copies are in flight.
        var fence = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await p1.SlotAsync(Topic("fence"), (_, _) => { fence.TrySetResult(); return default; });
        await sender.SignalAsync(Topic("fence"), JsonPayload.Null);
        await fence.Task.Within("fence signal");
        Assert.Equal(10, groupTotal.Count);
        Assert.All(loners, l => Assert.Equal(10, l.Count));
    }

    [Fact]
    public async Task Wildcard_slots_see_exactly_the_topics_their_pattern_matches()
    {
        var p = _prefix;
        var patterns = new[] { $"{p}.w.*", $"{p}.w.a*z", $"*.{p}x.end", $"{p}.w.a", $"{p}.*.mid.*" };
        var topics = new[] { $"{p}.w.a", $"{p}.w.abz", $"{p}.w.a.z", $"{p}.w.az", $"{p}.w", $"{p}.wx.a", $"q.{p}x.end", $"q.r.{p}x.end", $"{p}.s.mid.t", $"{p}.mid.t" };
        var bus = await ProcessAsync();
        var received = patterns.ToDictionary(x => x, _ => new ConcurrentQueue<string>());
        var fences = patterns.ToDictionary(x => x, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var fenceTopics = new Dictionary<string, string>
        {
            [patterns[0]] = $"{p}.w.fence0",
            [patterns[1]] = $"{p}.w.afence1z",
            [patterns[2]] = $"fence2.{p}x.end",
            [patterns[3]] = $"{p}.w.a",
            [patterns[4]] = $"{p}.f.mid.fence4",
        };
        foreach (var pattern in patterns)
        {
            await bus.SlotAsync(pattern, (s, _) =>
            {
                if (s.Data.ToString() == $"\"fence:{pattern}\"")
                {
                    fences[pattern].TrySetResult();
                }
                else if (!s.Data.ToString().StartsWith("\"fence:", StringComparison.Ordinal))
                {
                    received[pattern].Enqueue(s.Topic);
                }

                return default;
            }, options: new HandlerOptions { Concurrency = 1 });
        }

        var sender = await ProcessAsync();
        foreach (var topic in topics)
        {
            await sender.SignalAsync(topic, JsonPayload.From(topic));
        }

        foreach (var pattern in patterns)
        {
            await sender.SignalAsync(fenceTopics[pattern], JsonPayload.From($"fence:{pattern}"));
        }

        foreach (var pattern in patterns)
        {
            await fences[pattern].Task.Within($"fence for pattern {pattern}");
            var expected = topics.Where(t => Core.Topics.Glob.IsMatch(pattern, t)).OrderBy(t => t, StringComparer.Ordinal).ToArray();
            var actual = received[pattern].OrderBy(t => t, StringComparer.Ordinal).ToArray();
            Assert.True(expected.SequenceEqual(actual), $"pattern {pattern}: expected [{string.Join(", ", expected)}] got [{string.Join(", ", actual)}]");
        }

        // The expectations themselves, so a broken matcher cannot make this test vacuous.
        Assert.Equal([4, 3, 2, 1, 1], patterns.Select(x => topics.Count(t => Core.Topics.Glob.IsMatch(x, t))));
    }

    // ------------------------------------------------------------------ compositions

    private async Task<(MessageBus Client, ConcurrentDictionary<string, int> Calls)> ComposableServicesAsync()
    {
        var server = await ProcessAsync();
        var calls = new ConcurrentDictionary<string, int>();
        void Count(string name) => calls.AddOrUpdate(name, 1, (_, c) => c + 1);

        await server.ReplyToAsync(Topic("inc"), "_default", (r, _) =>
        {
            Count("inc");
            var node = r.Data.IsNull ? new JsonObject() : JsonNode.Parse(r.Data.ToString())!.AsObject();
            node["n"] = ((int?)node["n"] ?? 0) + 1;
            return Reply(JsonPayload.Parse(node.ToJsonString()));
        });
        await server.ReplyToAsync(Topic("echo"), "_default", (r, _) => { Count("echo"); return Reply(r.Data); });
        await server.ReplyToAsync(Topic("fail"), "_default", (_, _) => { Count("fail"); return Reply(Json("\"failed\""), 500); });
        return (await ProcessAsync(), calls);
    }

    private Task<CompositionResult> RunAsync(MessageBus client, string json, string? input = null)
    {
        var composition = CompositionParser.Parse(json.Replace("@", _prefix + ".", StringComparison.Ordinal));
        return client.ExecuteAsync(composition, input is null ? JsonPayload.Null : Json(input), TimeSpan.FromSeconds(20)).Within("composition result");
    }

    [Fact]
    public async Task Pipe_passes_output_on_merges_each_step_message_and_stops_at_the_first_failure()
    {
        var (client, calls) = await ComposableServicesAsync();

        var chained = await RunAsync(client, """{"pipe":[{"topic":"@inc","message":{"n":1}},{"topic":"@inc"},{"topic":"@inc"}]}""");
        Assert.Equal((200, 1), (chained.Code, chained.Length));
        Assert.Equal(4, (int)JsonNode.Parse(chained.Messages[0].Data.ToString())!["n"]!);

        var merged = await RunAsync(client, """{"pipe":[{"topic":"@echo","message":{"a":1}},{"topic":"@echo","message":{"b":2,"a":3}}]}""", """{"z":0}""");
        Assert.Equal("""{"z":0,"a":3,"b":2}""", merged.Messages[0].Data.ToString());

        calls.Clear();
        var stopped = await RunAsync(client, """{"pipe":[{"topic":"@inc"},{"topic":"@fail"},{"topic":"@inc"}]}""");
        Assert.Equal((500, 1), (stopped.Code, stopped.Length));
        Assert.Equal(1, calls["inc"]);
    }

    [Fact]
    public async Task AndAnd_passes_no_data_and_stops_at_the_first_error()
    {
        var (client, calls) = await ComposableServicesAsync();
        var noPassing = await RunAsync(client, """{"andand":[{"topic":"@echo","message":{"a":1}},{"topic":"@echo"}]}""");
        Assert.Equal(200, noPassing.Code);
        Assert.True(noPassing.Messages[0].Data.IsNull, $"andand passed data on: {noPassing.Messages[0].Data}");

        calls.Clear();
        var stopped = await RunAsync(client, """{"andand":[{"topic":"@inc"},{"topic":"@fail"},{"topic":"@inc"}]}""");
        Assert.Equal((500, 1), (stopped.Code, stopped.Length));
        Assert.Equal(1, calls["inc"]);

        var missing = await RunAsync(client, """{"andand":[{"topic":"@inc"},{"topic":"@nobody"},{"topic":"@inc"}]}""");
        Assert.Equal(404, missing.Code);
    }

    [Fact]
    public async Task OrOr_stops_at_the_first_success()
    {
        var (client, calls) = await ComposableServicesAsync();
        var result = await RunAsync(client, """{"oror":[{"topic":"@fail"},{"topic":"@inc","message":{"n":5}},{"topic":"@inc"}]}""");
        Assert.Equal((200, 1), (result.Code, result.Length));
        Assert.Equal(6, (int)JsonNode.Parse(result.Messages[0].Data.ToString())!["n"]!);
        Assert.Equal(1, calls["inc"]);

        calls.Clear();
        var allFail = await RunAsync(client, """{"oror":[{"topic":"@fail"},{"topic":"@fail"}]}""");
        Assert.Equal(500, allFail.Code);
        Assert.Equal(2, calls["fail"]);
    }

    [Fact]
    public async Task Batch_runs_everything_and_returns_the_last_output_or_every_output_when_recording()
    {
        var (client, calls) = await ComposableServicesAsync();
        var last = await RunAsync(client, """{"batch":[{"topic":"@fail"},{"topic":"@inc","message":{"n":1}}]}""");
        Assert.Equal((200, 1), (last.Code, last.Length));
        Assert.Equal(2, (int)JsonNode.Parse(last.Messages[0].Data.ToString())!["n"]!);

        var recorded = await RunAsync(client, """{"batch":[{"topic":"@inc","message":{"n":1}},{"topic":"@fail"},{"topic":"@inc","message":{"n":7}}],"record":true}""");
        Assert.Equal((500, 3), (recorded.Code, recorded.Length));
        Assert.Equal([200, 500, 200], recorded.Messages.Select(m => m.Code));
        Assert.Equal(3, calls["inc"]);
    }

    [Fact]
    public async Task Parallel_returns_every_output_with_the_largest_code()
    {
        var (client, _) = await ComposableServicesAsync();
        var result = await RunAsync(client, """{"parallel":[{"topic":"@inc","message":{"n":1}},{"topic":"@inc","message":{"n":10}},{"topic":"@fail"}]}""");
        Assert.Equal((500, 3), (result.Code, result.Length));
        Assert.Equal(2, (int)JsonNode.Parse(result.Messages[0].Data.ToString())!["n"]!);
        Assert.Equal(11, (int)JsonNode.Parse(result.Messages[1].Data.ToString())!["n"]!);
        Assert.Equal(500, result.Messages[2].Code);
    }

    [Fact]
    public async Task Compositions_nest()
    {
        var (client, _) = await ComposableServicesAsync();
        var nested = await RunAsync(client, """{"pipe":[{"andand":[{"topic":"@inc","message":{"n":1}},{"topic":"@inc","message":{"n":2}}]},{"topic":"@inc"}]}""");
        Assert.Equal(200, nested.Code);
        Assert.Equal(4, (int)JsonNode.Parse(nested.Messages[0].Data.ToString())!["n"]!);

        var parallelInPipe = await RunAsync(client, """{"pipe":[{"parallel":[{"topic":"@inc","message":{"n":1}},{"topic":"@inc","message":{"n":2}}]},{"topic":"@echo"}]}""");
        Assert.Equal("""[{"n":2},{"n":3}]""", parallelInPipe.Messages[0].Data.ToString());

        var orInAnd = await RunAsync(client, """{"andand":[{"oror":[{"topic":"@fail"},{"topic":"@echo"}]},{"batch":[{"topic":"@fail"},{"topic":"@echo","message":"done"}],"record":false}]}""");
        Assert.Equal(200, orInAnd.Code);
        Assert.Equal("\"done\"", orInAnd.Messages[0].Data.ToString());
    }

    // ------------------------------------------------------------------ durable delivery

    [Fact]
    public async Task A_durable_message_unacked_by_a_dying_consumer_is_redelivered_to_another()
    {
        var topic = Topic("orders");
        var dying = await ProcessAsync();
        var firstSeen = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource();
        await dying.SubscribeDurableAsync(topic, "fulfilment", async (m, ct) =>
        {
            firstSeen.TrySetResult(m);
            await never.Task.WaitAsync(ct);
        });

        var publisher = await ProcessAsync();
        Assert.Equal(PublishStatus.Routed, await publisher.PublishDurableAsync(topic, Json("{\"order\":42}"), "order-42"));
        var first = await firstSeen.Task.Within("the first consumer to receive the order");
        Assert.False(first.Redelivered);

        var survivor = await ProcessAsync();
        var redelivered = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await survivor.SubscribeDurableAsync(topic, "fulfilment", (m, _) =>
        {
            redelivered.TrySetResult(m);
            return default;
        });

        await dying.DisposeAsync(); // the process dies without acknowledging
        var second = await redelivered.Task.Within("redelivery to the surviving consumer");
        Assert.Equal("order-42", second.MessageId);
        Assert.True(second.Redelivered, "a redelivered message must say so");
        Assert.Equal(42, (int)JsonNode.Parse(second.Data.ToString())!["order"]!);
    }

    [Fact]
    public async Task A_durable_subscription_drops_duplicates_by_message_id()
    {
        var topic = Topic("payments");
        var bus = await ProcessAsync();
        var handled = new CountdownSignal();
        await bus.SubscribeDurableAsync(topic, "ledger", (m, _) =>
        {
            handled.Increment();
            return default;
        }, new HandlerOptions { Concurrency = 1 });

        var publisher = await ProcessAsync();
        await publisher.PublishDurableAsync(topic, Json("1"), "pay-1");
        await publisher.PublishDurableAsync(topic, Json("1"), "pay-1");
        await publisher.PublishDurableAsync(topic, Json("2"), "pay-2");
        await handled.WaitForAsync(2, "two distinct payments");

        var fence = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await bus.SlotAsync(Topic("fence"), (_, _) => { fence.TrySetResult(); return default; });
        for (var i = 0; bus.DuplicatesDropped == 0 && i < 200; i++)
        {
            await publisher.SignalAsync(Topic("fence"), JsonPayload.Null);
            await fence.Task.Within("fence");
            fence = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        Assert.Equal(1, bus.DuplicatesDropped);
        Assert.Equal(2, handled.Count);
    }

    [Fact]
    public async Task A_durable_publish_with_no_subscription_is_unroutable()
    {
        var bus = await ProcessAsync();
        Assert.Equal(PublishStatus.Unroutable, await bus.PublishDurableAsync(Topic("void"), Json("1")));
    }

    // ------------------------------------------------------------------ single consumers, declared queues, durable requests

    [Fact]
    public async Task A_single_consumer_queue_refuses_a_second_consumer_until_the_first_stops()
    {
        var topic = Topic("shard.7");
        var single = new HandlerOptions { SingleConsumer = true };
        var holder = await ProcessAsync();
        var held = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource();
        var holding = await holder.SubscribeDurableAsync(topic, "silo", async (m, ct) =>
        {
            held.TrySetResult(m);
            await never.Task.WaitAsync(ct);
        }, single);

        var publisher = await ProcessAsync();
        Assert.Equal(PublishStatus.Routed, await publisher.PublishDurableAsync(topic, Json("\"grain call\""), "call-1"));
        Assert.False((await held.Task.Within("the holder to receive the message")).Redelivered);

        // A second process on the same broker, with a subscription of its own that must survive the refusal.
        var other = await ProcessAsync();
        var alive = new CountdownSignal();
        await other.SlotAsync(Topic("alive"), (_, _) => { alive.Increment(); return default; });

        var taken = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        DurableHandler take = (m, _) =>
        {
            if (m.MessageId == "call-1")
            {
                taken.TrySetResult(m);
            }

            return default;
        };
        var refused = await Assert.ThrowsAsync<Core.Errors.TrellisException>(async () => await other.SubscribeDurableAsync(topic, "silo", take, single));
        Assert.Equal(Core.Errors.ErrorKind.FailedPrecondition, refused.Kind);
        Assert.Contains(topic, refused.Message);
        Assert.Contains("another consumer holds it", refused.Message);

        // The refusal cost nothing else: the process still publishes and its other subscription still receives.
        Assert.Equal(PublishStatus.Routed, await other.SignalAsync(Topic("alive"), JsonPayload.Null));
        await alive.WaitForAsync(1, "the refused process's slot to receive a signal");
        Assert.Equal(PublishStatus.Routed, await other.PublishDurableAsync(topic, Json("\"second call\""), "call-2"));

        await holding.DisposeAsync();
        await other.SubscribeDurableAsync(topic, "silo", take, single).AsTask().Within("the second consumer to subscribe after the first stopped");
        var redelivered = await taken.Task.Within("the message the holder left unacknowledged");
        Assert.Equal("call-1", redelivered.MessageId);
        Assert.True(redelivered.Redelivered, "a message the stopped holder had not acknowledged must come back flagged redelivered");
    }

    [Fact]
    public async Task A_declared_durable_queue_holds_messages_until_someone_subscribes_and_outlives_its_consumers()
    {
        var topic = Topic("mailbox");
        var bus = await ProcessAsync();
        await bus.DeclareDurableQueueAsync(topic, "owner");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(PublishStatus.Routed, await bus.PublishDurableAsync(topic, JsonPayload.From(i), $"early-{i}"));
        }

        var consumer = await ProcessAsync();
        var received = new ConcurrentQueue<string>();
        var count = new CountdownSignal();
        DurableHandler handler = (m, _) =>
        {
            received.Enqueue(m.MessageId);
            count.Increment();
            return default;
        };
        var first = await consumer.SubscribeDurableAsync(topic, "owner", handler);
        await count.WaitForAsync(3, "the messages published before anyone subscribed");
        Assert.Equal(["early-0", "early-1", "early-2"], received.Order(StringComparer.Ordinal));

        // With its last consumer gone the queue is still bound and keeps what arrives.
        await first.DisposeAsync();
        Assert.Equal(PublishStatus.Routed, await bus.PublishDurableAsync(topic, Json("3"), "late-3"));
        await consumer.SubscribeDurableAsync(topic, "owner", handler);
        await count.WaitForAsync(4, "the message published while nobody consumed");
        Assert.Contains("late-3", received);
    }

    [Fact]
    public async Task A_durable_request_gets_the_reply_of_its_handler()
    {
        var topic = Topic("grain.poke");
        var server = await ProcessAsync();
        var plain = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.SubscribeDurableAsync(topic, "silo", async (m, ct) =>
        {
            if (m.ReplyTo is null)
            {
                plain.TrySetResult(m);
                await server.ReplyAsync(m, new Message(Json("\"nobody asked\"")), ct); // nowhere to go: a no-op
                return;
            }

            var echo = JsonNode.Parse(m.Data.ToString())!.AsObject();
            echo["id"] = m.MessageId;
            echo["timeout"] = m.Timeout.TotalMilliseconds;
            echo["sender"] = m.Sender.Length > 0;
            await server.ReplyAsync(m, new Message(JsonPayload.Parse(echo.ToJsonString()), 201), ct);
        });

        var client = await ProcessAsync();
        var reply = await client.RequestDurableAsync(topic, Json("{\"n\":7}"), "poke-1", TimeSpan.FromSeconds(20)).Within("the durable reply");
        Assert.Equal(201, reply.Code);
        var body = JsonNode.Parse(reply.Data.ToString())!;
        Assert.Equal(7, (int)body["n"]!);
        Assert.Equal("poke-1", (string)body["id"]!);
        Assert.Equal(20_000, (double)body["timeout"]!);
        Assert.True((bool)body["sender"]!, "a durable request must carry its sender");

        Assert.Equal(PublishStatus.Routed, await client.PublishDurableAsync(topic, Json("1"), "fact-1"));
        var fact = await plain.Task.Within("the plain durable message");
        Assert.Equal((TimeSpan.Zero, "fact-1"), (fact.Timeout, fact.MessageId));
    }

    [Fact]
    public async Task A_durable_request_to_a_topic_without_a_queue_gets_404()
    {
        var bus = await ProcessAsync();
        var reply = await bus.RequestDurableAsync(Topic("no.shard"), Json("{}"), "lost-1", TimeSpan.FromSeconds(20)).Within("404 reply");
        Assert.Equal(Codes.NotFound, reply.Code);
        Assert.Contains("No active listeners", reply.Data.ToString());
        Assert.Equal(0, bus.PendingRequests);
    }

    [Fact]
    public async Task A_durable_request_redelivered_after_its_consumer_stopped_is_answered_to_the_waiting_requester()
    {
        var topic = Topic("shard.3");
        var single = new HandlerOptions { SingleConsumer = true };
        var oldHolder = await ProcessAsync();
        var seen = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource();
        var holding = await oldHolder.SubscribeDurableAsync(topic, "silo", async (m, ct) =>
        {
            seen.TrySetResult(m);
            await never.Task.WaitAsync(ct); // blocked: neither replies nor acknowledges
        }, single);

        var client = await ProcessAsync();
        var request = client.RequestDurableAsync(topic, Json("\"ping\""), "poke-9", TimeSpan.FromSeconds(30));
        Assert.False((await seen.Task.Within("the first holder to receive the request")).Redelivered);
        Assert.False(request.IsCompleted, $"the request finished before anyone replied: {(request.IsCompletedSuccessfully ? request.Result.Code : -1)}");

        await holding.DisposeAsync();
        var newHolder = await ProcessAsync();
        await newHolder.SubscribeDurableAsync(topic, "silo", async (m, ct) =>
        {
            await newHolder.ReplyAsync(m, new Message(JsonPayload.From($"{m.MessageId} redelivered={m.Redelivered}")), ct);
        }, single);

        var reply = await request.Within("the new holder's reply to reach the requester");
        Assert.Equal(Codes.Ok, reply.Code);
        Assert.Equal("\"poke-9 redelivered=True\"", reply.Data.ToString());
    }

    [Fact]
    public async Task A_durable_requester_timeout_gives_499_and_the_request_is_still_handled()
    {
        var topic = Topic("slow.shard");
        var server = await ProcessAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new TaskCompletionSource<DurableMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.SubscribeDurableAsync(topic, "silo", async (m, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            if (m.ReplyTo is not null)
            {
                await server.ReplyAsync(m, new Message(Json("\"too late\"")), ct);
                handled.TrySetResult(m);
            }
        }, new HandlerOptions { Concurrency = 1, Timeout = TimeSpan.FromSeconds(60) });

        // A plain message in front holds the only handler slot, so the request waits in the queue itself
        // while its requester gives up: it must not expire there.
        var client = await ProcessAsync();
        Assert.Equal(PublishStatus.Routed, await client.PublishDurableAsync(topic, Json("\"first\""), "blocker"));
        var reply = await client.RequestDurableAsync(topic, Json("\"call\""), "poke-late", TimeSpan.FromMilliseconds(300)).Within("499 reply");
        Assert.Equal(Codes.RequestTimeout, reply.Code);
        Assert.Contains(client.Errors.Snapshot(), e => e.Code == Codes.RequestTimeout && e.Topic == topic);

        gate.SetResult();
        var late = await handled.Task.Within("the timed-out request to be handled anyway");
        Assert.Equal(("poke-late", TimeSpan.FromMilliseconds(300)), (late.MessageId, late.Timeout));
        Assert.Equal(0, client.PendingRequests);
    }

    [Fact]
    public async Task A_durable_request_that_fails_twice_is_dropped_and_its_requester_gets_the_failure()
    {
        var topic = Topic("broken.shard");
        var server = await ProcessAsync();
        var attempts = new ConcurrentQueue<bool>();
        await server.SubscribeDurableAsync(topic, "silo", (m, _) =>
        {
            attempts.Enqueue(m.Redelivered);
            throw new InvalidOperationException("corrupt state");
        }, new HandlerOptions { Concurrency = 1 });

        var client = await ProcessAsync();
        var reply = await client.RequestDurableAsync(topic, Json("{}"), "poke-bad", TimeSpan.FromSeconds(20)).Within("the failure reply");
        Assert.Equal(Codes.HandlerError, reply.Code);
        Assert.Contains("corrupt state", reply.Data.ToString());
        Assert.Equal([false, true], attempts.ToArray());
        Assert.Equal(["durable-dropped", "durable-retry"], server.Errors.Snapshot().Where(e => e.Topic == topic).Select(e => e.Origin));
    }

    [Fact]
    public async Task A_handler_gives_a_durable_message_back_with_RequeueException_without_failing()
    {
        var topic = Topic("moving.shard");
        var bus = await ProcessAsync();
        var calls = new ConcurrentQueue<(string Outcome, bool Redelivered)>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await bus.SubscribeDurableAsync(topic, "silo", (m, _) =>
        {
            switch (calls.Count)
            {
                case 0:
                    calls.Enqueue(("requeue", m.Redelivered));
                    throw new RequeueException("the shard is moving");
                case 1:
                    // A real failure after a give-back is the message's first failure: it gets its retry.
                    calls.Enqueue(("fail", m.Redelivered));
                    throw new InvalidOperationException("flaky");
                default:
                    calls.Enqueue(("ok", m.Redelivered));
                    done.TrySetResult();
                    return default;
            }
        }, new HandlerOptions { Concurrency = 1 });

        var publisher = await ProcessAsync();
        Assert.Equal(PublishStatus.Routed, await publisher.PublishDurableAsync(topic, Json("{}"), "m-1"));
        await done.Task.Within($"the message to be handled after a give-back and a failure (calls: {string.Join(", ", calls)})");
        Assert.Equal([("requeue", false), ("fail", true), ("ok", true)], calls.ToArray());

        // Only the real failure is an error; the give-back is not reported.
        var reports = bus.Errors.Snapshot().Where(e => e.Topic == topic).ToArray();
        Assert.Single(reports);
        Assert.Equal(("durable-retry", Codes.HandlerError), (reports[0].Origin, reports[0].Code));
    }

    [Fact]
    public async Task Without_deduplication_every_delivery_of_a_message_id_reaches_the_handler()
    {
        var topic = Topic("grain.mailbox");
        var raw = await ProcessAsync();
        var deduped = await ProcessAsync();
        var rawSeen = new ConcurrentQueue<string>();
        var dedupedSeen = new ConcurrentQueue<string>();
        var rawCount = new CountdownSignal();
        var dedupedCount = new CountdownSignal();
        await raw.SubscribeDurableAsync(topic, "raw", (m, _) => { rawSeen.Enqueue(m.MessageId); rawCount.Increment(); return default; },
            new HandlerOptions { Concurrency = 1, Deduplicate = false });
        await deduped.SubscribeDurableAsync(topic, "deduped", (m, _) => { dedupedSeen.Enqueue(m.MessageId); dedupedCount.Increment(); return default; },
            new HandlerOptions { Concurrency = 1 });

        var publisher = await ProcessAsync();
        foreach (var id in new[] { "a", "a", "b" })
        {
            Assert.Equal(PublishStatus.Routed, await publisher.PublishDurableAsync(topic, Json("1"), id));
        }

        await rawCount.WaitForAsync(3, "every copy at the subscription without deduplication");
        Assert.Equal(["a", "a", "b"], rawSeen.ToArray());

        // One at a time in queue order: once "b" is handled, the duplicate "a" before it was dropped.
        await dedupedCount.WaitForAsync(2, "the distinct messages at the deduplicating subscription");
        Assert.Equal(["a", "b"], dedupedSeen.ToArray());
        Assert.Equal(0, raw.DuplicatesDropped);
        Assert.Equal(1, deduped.DuplicatesDropped);
    }

    // ------------------------------------------------------------------ back-pressure

    [Fact]
    public async Task A_full_durable_queue_refuses_publishers_and_loses_nothing_it_accepted()
    {
        var topic = Topic("flood");
        var consumer = await ProcessAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new CountdownSignal();
        await consumer.SubscribeDurableAsync(topic, "slow", async (_, _) =>
        {
            await gate.Task;
            handled.Increment();
        }, new HandlerOptions { Concurrency = 1, MaxQueueLength = 3, Timeout = TimeSpan.FromSeconds(60) });

        var publisher = await ProcessAsync();
        var accepted = 0;
        var refused = 0;
        for (var i = 0; i < 12; i++)
        {
            var status = await publisher.PublishDurableAsync(topic, JsonPayload.From(i));
            if (status == PublishStatus.Routed)
            {
                accepted++;
            }
            else
            {
                Assert.Equal(PublishStatus.QueueFull, status);
                refused++;
            }
        }

        Assert.True(refused > 0, $"no publish was refused by a queue holding 3 (accepted {accepted})");
        Assert.True(accepted >= 3, $"only {accepted} accepted; the queue holds 3");
        gate.SetResult();
        await handled.WaitForAsync(accepted, "every accepted message to be handled");
    }

    [Fact]
    public async Task A_full_request_queue_answers_503_and_the_accepted_requests_complete()
    {
        var topic = Topic("busy");
        var server = await ProcessAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.ReplyToAsync(topic, "_default", async (r, _) =>
        {
            await gate.Task;
            return new Message(r.Data);
        }, new HandlerOptions { Concurrency = 1, MaxQueueLength = 2, Timeout = TimeSpan.FromSeconds(60) });

        var client = await ProcessAsync();
        var requests = Enumerable.Range(0, 12).Select(i => client.RequestAsync(topic, JsonPayload.From(i), TimeSpan.FromSeconds(30))).ToArray();
        var first503 = await Task.WhenAny(requests).Within("a first reply while the handler is blocked");
        Assert.Equal(Codes.QueueFull, (await first503).Code);

        gate.SetResult();
        var replies = await Task.WhenAll(requests).Within("all replies after the handler is released", TimeSpan.FromSeconds(40));
        Assert.All(replies, r => Assert.True(r.Code is Codes.Ok or Codes.QueueFull, $"unexpected code {r.Code}: {r.Data}"));
        Assert.Contains(replies, r => r.Code == Codes.Ok);
        Assert.Contains(replies, r => r.Code == Codes.QueueFull);
    }
}
