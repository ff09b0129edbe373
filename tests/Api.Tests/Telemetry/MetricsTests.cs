using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Hosting;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Contracts.V1;
using Trellis.Core.Errors;
using Trellis.TestKit;
using static Trellis.Api.Tests.Infrastructure.GrpcApi;

namespace Trellis.Api.Tests.Telemetry;

/// <summary>/metrics in Prometheus' format after real traffic: requests by topic, group and code, signals, errors, app
/// pokes and watchers, gRPC calls, node states, Orleans' meter; RabbitMQ's messaging metrics; switching metrics off;
/// bad telemetry settings; OTLP export over http/protobuf to an endpoint of the test's own.</summary>
/// <remarks>The <c>Trellis</c> meter is one per process and tests run in parallel, so every gateway's /metrics also counts
/// other tests' traffic: counts are asserted exactly on topics of this test's own, and as at least this test's traffic on
/// what other tests share (the counter agent, gRPC methods). The class runs alone: ASP.NET Core and Orleans make their
/// instruments per host, and with a dozen test hosts alive at once some of this gateway's own (orleans_*, http_server_*)
/// were missing from its /metrics now and then, most likely because its MeterProvider had reached its limit of 1000
/// metric streams and ignored instruments published after that.</remarks>
[Collection(nameof(MetricsTests))]
public sealed class MetricsTests
{
    private const string Admin = TestGateway.AdminToken;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_count_requests_signals_errors_pokes_watchers_and_grpc_calls()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var python = await PythonNode.StartAsync("metrics");
        var prefix = $"m{Guid.NewGuid():N}"[..12];
        var node = await gateway.RegisterAsync(new
        {
            port = python.Port,
            services = new object[]
            {
                new { topic = $"{prefix}.echo", group = "_default", path = "/echo" },
                new { topic = $"{prefix}.fail", group = "workers", path = "/fail" },
            },
            slots = new object[] { new { topic = $"{prefix}.sig.*", path = "/echo" } },
        });

        // Traffic: three answered requests, one failing (reported on the error channel), one signal.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(200, (await gateway.PostAsync($"/request/{node.Id}", new { topic = $"{prefix}.echo", message = i }, node.Token)).Status);
        }

        Assert.Equal(500, (await gateway.PostAsync($"/request/{node.Id}", new { topic = $"{prefix}.fail", message = 1 }, node.Token)).Status);
        Assert.Equal(200, (await gateway.PostAsync($"/signal/{node.Id}", new { topic = $"{prefix}.sig.one", message = 1 }, node.Token)).Status);
        await python.WaitForCallsAsync("/echo", 4, "the signal reaching the node");

        // Apps: two acked pokes and a nack on the counter agent, and a watch held open.
        var app = $"metrics-{Guid.NewGuid():N}";
        var before = await ScrapeAsync(gateway);
        Assert.Equal(201, (await gateway.PostAsync("/apps", new { app, agent = "counter" }, Admin)).Status);
        Assert.Equal(200, (await gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, Admin)).Status);
        Assert.Equal(200, (await gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 2 } }, Admin)).Status);
        Assert.Equal(400, (await gateway.PostAsync($"/apps/{app}:poke", new { mark = "jump", data = 1 }, Admin)).Status);
        await using var watch = await SseReader.OpenAsync(gateway.Http, $"/apps/{app}:watch?path=/count", Admin);
        Assert.Equal("watch-ack", (await watch.NextAsync("the watch-ack"))!.Name);

        // gRPC: a health check (OK) and a refused call (UNAUTHENTICATED).
        await gateway.Grpc.UnaryAsync(HealthCheck, new global::Grpc.Health.V1.HealthCheckRequest(), As(null));
        var refused = await Assert.ThrowsAsync<RpcException>(() => gateway.Grpc.UnaryAsync(GetNode, new NodeRef { Id = node.Id }, As("not-a-token")));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);

        var metrics = await Waits.UntilAsync(
            () => ScrapeAsync(gateway),
            m => m.Sum("trellis_signal_deliveries_total", ("trellis_topic", $"{prefix}.sig.one")) >= 1
                && m.Find("trellis_flow_participants").Any()
                && m.Samples.Any(static s => s.Name.StartsWith("orleans_", StringComparison.Ordinal)),
            "/metrics to show the signal, the participants' gauge and Orleans' metrics");

        // Requests by topic, group and code: exactly this test's traffic.
        Assert.Equal(3, metrics.Sum("trellis_request_duration_seconds_count", ("trellis_topic", $"{prefix}.echo"), ("trellis_group", "_default"), ("trellis_code", "200")));
        Assert.Equal(1, metrics.Sum("trellis_request_duration_seconds_count", ("trellis_topic", $"{prefix}.fail"), ("trellis_group", "workers"), ("trellis_code", "500")));
        Assert.Equal(3, metrics.Sum("trellis_request_duration_seconds_bucket", ("trellis_topic", $"{prefix}.echo"), ("trellis_code", "200"), ("le", "+Inf")));
        Assert.True(metrics.Sum("trellis_request_duration_seconds_sum", ("trellis_topic", $"{prefix}.echo")) > 0, "the requests' durations add up to more than 0 s");
        Assert.Equal(1, metrics.Sum("trellis_signal_deliveries_total", ("trellis_topic", $"{prefix}.sig.one")));

        // The error channel: the failed request, once.
        Assert.Equal(1, metrics.Sum("trellis_errors_total", ("trellis_topic", $"{prefix}.fail"), ("trellis_code", "500")));
        Assert.Equal(0, metrics.Sum("trellis_errors_total", ("trellis_topic", $"{prefix}.echo")));

        // Apps: at least this test's pokes (other tests poke counters too), and its watch open.
        double Pokes(PrometheusText m, string result) => m.Sum("trellis_app_pokes_total", ("trellis_app_agent", "counter"), ("trellis_result", result));
        Assert.True(Pokes(metrics, "ack") - Pokes(before, "ack") >= 2, $"acked pokes went from {Pokes(before, "ack")} to {Pokes(metrics, "ack")}");
        Assert.True(Pokes(metrics, "nack") - Pokes(before, "nack") >= 1, $"nacked pokes went from {Pokes(before, "nack")} to {Pokes(metrics, "nack")}");
        Assert.True(metrics.Sum("trellis_app_watchers", ("trellis_app_agent", "counter")) >= 1, "the open watch counts as a watcher");

        // gRPC calls with the semantic conventions' names.
        Assert.True(metrics.Sum("rpc_server_call_duration_seconds_count",
            ("rpc_system_name", "grpc"), ("rpc_method", "grpc.health.v1.Health/Check"), ("rpc_response_status_code", "OK")) >= 1);
        Assert.True(metrics.Sum("rpc_server_call_duration_seconds_count",
            ("rpc_system_name", "grpc"), ("rpc_method", "trellis.v1.Nodes/GetNode"), ("rpc_response_status_code", "UNAUTHENTICATED")) >= 1);

        // Gauges, and Orleans' own meter.
        Assert.True(metrics.Sum("trellis_nodes", ("trellis_state", "ok")) >= 1, "the registered node is ok");
        Assert.Contains(metrics.Samples, s => s.Name == "trellis_nodes" && s.Has("trellis_state", "dirty"));
        Assert.True(metrics.Find("trellis_edge_devices").Any(), $"trellis_edge_devices in:\n{string.Join('\n', metrics.Text.Split('\n').Where(static l => l.StartsWith("trellis_", StringComparison.Ordinal) || l.StartsWith("# TYPE trellis", StringComparison.Ordinal)))}");
        var names = metrics.Samples.Select(static s => s.Name).Distinct().ToArray();
        Assert.True(names.Any(static n => n.StartsWith("orleans_", StringComparison.Ordinal)),
            $"Orleans' metrics among the {names.Length} names: {string.Join(' ', names.Where(static n => !n.EndsWith("_bucket", StringComparison.Ordinal)))}");
        Assert.Contains(metrics.Samples, static s => s.Name == "http_server_request_duration_seconds_count");

        // What records on every buffer, route match or node call, or walks a large table when observed, is left out for its
        // cost (bench/README.md, Telemetry).
        foreach (var costly in new[] { "aspnetcore_memory_pool_", "aspnetcore_routing_", "http_client_", "http_server_active_requests", "orleans_directory_cache_size" })
        {
            Assert.DoesNotContain(names, n => n.StartsWith(costly, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Over_RabbitMQ_the_transport_reports_messaging_client_metrics()
    {
        var cluster = $"metrics-{Guid.NewGuid():N}";
        await using var gateway = await TestGateway.StartAsync(settings: TestBroker.GatewaySettings(cluster));
        await using var python = await PythonNode.StartAsync("metrics-rmq");
        var topic = $"m{Guid.NewGuid():N}"[..12] + ".echo";
        var node = await gateway.RegisterAsync(new { port = python.Port, services = new object[] { new { topic, group = "_default", path = "/echo" } } });
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(200, (await gateway.PostAsync($"/request/{node.Id}", new { topic, message = i }, node.Token)).Status);
        }

        var metrics = await ScrapeAsync(gateway);
        (string, string) Rabbit = ("messaging_system", "rabbitmq");

        // The service's queue (named after its topic) delivered both requests, and each was acknowledged.
        var consumed = metrics.Find("messaging_client_consumed_messages_total", Rabbit, ("messaging_operation_name", "deliver"))
            .Where(s => s.Labels["messaging_destination_name"].Contains(topic, StringComparison.Ordinal)).Sum(static s => s.Value);
        Assert.Equal(2, consumed);
        var acks = metrics.Find("messaging_client_operation_duration_seconds_count", Rabbit, ("messaging_operation_name", "ack"))
            .Where(s => s.Labels["messaging_destination_name"].Contains(topic, StringComparison.Ordinal)).Sum(static s => s.Value);
        Assert.Equal(2, acks);

        // Publishes: the requests to the requests exchange, the replies to the default exchange.
        Assert.True(metrics.Sum("messaging_client_sent_messages_total", Rabbit, ("messaging_operation_name", "publish"), ("messaging_destination_name", "amq.default")) >= 2);
        Assert.Contains(metrics.Find("messaging_client_operation_duration_seconds_count", Rabbit, ("messaging_operation_name", "publish")),
            static s => s.Labels["messaging_destination_name"].Contains("requests", StringComparison.Ordinal) && s.Value >= 2);
        Assert.Contains(metrics.Find("messaging_client_consumed_messages_total", Rabbit), static s => s.Has("messaging_destination_name", "amq.rabbitmq.reply-to"));
    }

    [Fact]
    public async Task With_metrics_off_there_is_no_metrics_endpoint()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Trellis:Telemetry:Metrics"] = "false" });
        Assert.Equal(404, (await gateway.GetAsync("/metrics", null)).Status);
        Assert.Equal(200, (await gateway.GetAsync("/healthz", null)).Status);
    }

    [Theory]
    [InlineData("Trellis:Telemetry:OtlpEndpoint", "nonsense", "Trellis:Telemetry:OtlpEndpoint must be an http:// or https:// URL (was 'nonsense')")]
    [InlineData("Trellis:Telemetry:OtlpEndpoint", "ftp://collector:21", "Trellis:Telemetry:OtlpEndpoint must be an http:// or https:// URL")]
    [InlineData("Trellis:Telemetry:OtlpProtocol", "udp", "Trellis:Telemetry:OtlpProtocol must be grpc or http/protobuf (was 'udp')")]
    [InlineData("Trellis:Telemetry:SampleRatio", "2", "Trellis:Telemetry:SampleRatio must be between 0 and 1 (was 2)")]
    [InlineData("Trellis:Telemetry:MaxTracesPerSecond", "-1", "Trellis:Telemetry:MaxTracesPerSecond must be 0 (no limit) or more (was -1)")]
    [InlineData("Trellis:Telemetry:PrometheusPath", "metrics", "Trellis:Telemetry:PrometheusPath must start with '/'")]
    [InlineData("Trellis:Telemetry:LogFormat", "xml", "Trellis:Telemetry:LogFormat must be simple or json (was 'xml')")]
    public void A_bad_telemetry_setting_stops_the_process_naming_the_key(string key, string value, string expected)
    {
        var e = Assert.Throws<TrellisException>(() => TrellisApp.Build([], "gateway", new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Traces_and_metrics_are_exported_over_OTLP_http_protobuf()
    {
        await using var collector = await Collector.StartAsync();
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Trellis:Telemetry:OtlpEndpoint"] = collector.Address.ToString(),
            ["Trellis:Telemetry:OtlpProtocol"] = "http/protobuf",
            // OpenTelemetry's own settings, read from the configuration: export every 200 ms rather than every minute.
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        Assert.Equal(200, (await gateway.GetAsync("/healthz", null)).Status);

        var traces = await Waits.UntilAsync(() => Task.FromResult(collector.Received("/v1/traces")), static r => r.Count > 0, "an OTLP trace export");
        var metrics = await Waits.UntilAsync(
            () => Task.FromResult(collector.Received("/v1/metrics")), static r => r.Any(static p => Contains(p.Body, "trellis.nodes")), "an OTLP metrics export with trellis.nodes");

        foreach (var post in traces.Concat(metrics))
        {
            Assert.Equal("application/x-protobuf", post.ContentType);
            // Protobuf keeps strings as they are: the resource's service name is in every export.
            Assert.True(Contains(post.Body, "trellis-silo"), $"an export to {post.Path} names the service trellis-silo");
        }

        Assert.Contains(metrics, static p => Contains(p.Body, "Microsoft.Orleans"));
    }

    private static async Task<PrometheusText> ScrapeAsync(TestGateway gateway)
    {
        var response = await gateway.GetAsync("/metrics", null);
        Assert.True(response.Status == 200, $"GET /metrics answered {response.Status}: {response.Body}");
        return PrometheusText.Parse(response.Body);
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>An OTLP/HTTP receiver that keeps what is posted to it and answers 200 with an empty (valid) protobuf response.</summary>
    private sealed class Collector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<Post> _posts = new();

        private Collector(WebApplication app) => _app = app;

        public Uri Address { get; private set; } = null!;

        public static async Task<Collector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var collector = new Collector(app);
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                collector._posts.Enqueue(new Post(context.Request.Path, context.Request.ContentType, body.ToArray()));
                context.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync(Cancel);
            collector.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return collector;
        }

        public IReadOnlyList<Post> Received(string path) => [.. _posts.Where(p => p.Path == path)];

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private sealed record Post(string Path, string? ContentType, byte[] Body);
}

/// <summary>Runs <see cref="MetricsTests"/> with no other test class at the same time.</summary>
[CollectionDefinition(nameof(MetricsTests), DisableParallelization = true)]
public sealed class MetricsTestsCollection;
