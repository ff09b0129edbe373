using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Trellis.Core.Diagnostics;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;

namespace Trellis.Api.Proxy.Internal;

/// <summary>What a call to a node came to: the reply message, and whether nothing listened on the node's port (the request
/// never reached it, so another member of its group may take it).</summary>
internal readonly record struct CallResult(Message Reply, bool Refused)
{
    /// <summary>A call the gateway cut short because it is shutting down: the node may still be working on it, but this
    /// process will not wait for the answer. Its caller learns that, rather than that the node's handler failed.</summary>
    public static CallResult GatewayStopping(NodeRecord node) =>
        new(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: the gateway is stopping and cancelled the call"), false);
}

/// <summary>The W3C trace context a delivery carries to its node: the request's span (see
/// <see cref="Request.TraceParent"/>) or, for a signal or flow message, the current activity; nulls when nothing is traced.</summary>
internal readonly record struct NodeTrace(string? Parent, string? State)
{
    /// <summary>The current activity's context (a slot's consumer span, a flow message's).</summary>
    public static NodeTrace Current
    {
        get
        {
            var current = Activity.Current;
            return new NodeTrace(MessagingTracing.TraceParentOf(current), MessagingTracing.TraceStateOf(current));
        }
    }
}

/// <summary>What a health check found.</summary>
internal readonly record struct HealthResult(NodeStatus Status, string Reason);

/// <summary>The gateway's HTTP calls to nodes: deliveries (<c>POST path</c> with <c>{topic, sender, data, timeout}</c>) and health checks.</summary>
/// <remarks>
/// One static <see cref="SocketsHttpHandler"/> serves every node: pooled keep-alive connections, no proxy (callbacks are
/// loopback or allow-listed hosts), no redirects (a node cannot bounce the gateway to another host), no cookies.
/// A call past its timeout is cancelled, and SocketsHttpHandler closes a connection whose request is cancelled mid-flight,
/// so the node's late write fails instead of landing on a reused connection.
/// </remarks>
internal sealed class NodeClient(TimeProvider time)
{
    private static readonly SocketsHttpHandler Handler = new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 256,
        MaxResponseHeadersLength = 64,
        // No HttpClient span per call (it would only repeat the bus consumer span the call runs in) and none of the
        // untracked child activity HttpClient makes without a listener: the delivery carries the consumer span's own
        // traceparent, set below.
        ActivityHeadersPropagator = null,
    };

    private static readonly HttpMessageInvoker Invoker = new(Handler, disposeHandler: false);
    private static readonly MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };

    /// <summary>POSTs a delivery to the node and turns its answer into a reply.</summary>
    public async Task<CallResult> CallAsync(
        NodeRecord node, NodeSubscription subscription, string topic, string sender, JsonPayload data, NodeTrace trace, int maxReplyBytes, CancellationToken stopping)
    {
        var uri = CallbackUri(node, subscription.Path);
        using var timeout = new CancellationTokenSource(subscription.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stopping);
        using var request = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = Envelope(topic, sender, data, subscription.Timeout),
        };
        AddTraceContext(request.Content, trace);

        try
        {
            using var response = await Invoker.SendAsync(request, linked.Token).ConfigureAwait(false);
            var body = await ReadAsync(response.Content, maxReplyBytes, linked.Token).ConfigureAwait(false);
            if (body is null)
            {
                return new CallResult(Message.Error(Codes.HandlerError, $"the node's reply is larger than the limit of {maxReplyBytes} bytes (Trellis:Nodes:MaxReplyBytes)"), false);
            }

            var status = (int)response.StatusCode;
            var code = status is >= 200 and < 300 ? Codes.Ok : Math.Max(status, Codes.ErrorThreshold);
            return new CallResult(new Message(ToData(body), code), false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new CallResult(Message.Error(Codes.HandlerTimeout, $"Execution timed out after {subscription.Timeout.TotalMilliseconds:0} ms"), false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return CallResult.GatewayStopping(node);
        }
        catch (OperationCanceledException e) when (e.InnerException is TimeoutException)
        {
            // SocketsHttpHandler's ConnectTimeout: the node did not even accept the connection.
            return new CallResult(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: no connection to port {node.Port} within {Handler.ConnectTimeout.TotalSeconds:0} s"), false);
        }
        catch (HttpRequestException e) when (IsRefused(e))
        {
            return new CallResult(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: it refused the connection on port {node.Port}"), true);
        }
        catch (HttpRequestException e) when (IsBrokenAnswer(e))
        {
            // The node answered, but not with HTTP we can read: its own fault, like any other failed handler.
            return new CallResult(Message.Error(Codes.HandlerError, $"node {node.Id} answered with a malformed HTTP response: {Describe(e)}"), false);
        }
        catch (HttpRequestException e)
        {
            // The connection failed before an answer came (reset, closed, unreachable): the node is unavailable, which its
            // callers must be able to tell from the node's own refusal (a status it sent). Whether the node saw the request
            // is unknown, so unlike a refused connection this does not move on to another member of the group.
            return new CallResult(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: the connection to port {node.Port} failed before it answered ({Describe(e)})"), false);
        }
        catch (IOException e) when (!linked.IsCancellationRequested)
        {
            // The same while reading the body: the headers came, the rest did not.
            return new CallResult(Message.Error(Codes.Unavailable, $"node {node.Id} is unavailable: the connection to port {node.Port} broke during its answer ({Describe(e)})"), false);
        }
    }

    /// <summary>The delivery's W3C trace context, when it has one.</summary>
    /// <remarks>Set among the body's headers, which every delivery has already: a header name HttpClient does not know
    /// goes on the wire the same from either collection, and the request's own collection would be made for it alone.</remarks>
    private static void AddTraceContext(HttpContent content, NodeTrace trace)
    {
        if (trace.Parent is not { } traceParent)
        {
            return;
        }

        content.Headers.TryAddWithoutValidation(MessagingTracing.TraceParentHeader, traceParent);
        if (trace.State is { } state)
        {
            content.Headers.TryAddWithoutValidation(MessagingTracing.TraceStateHeader, state);
        }
    }

    /// <summary>GETs the node's health path: 2xx is ok, connection refused is dirty, anything else unavailable.</summary>
    public async Task<HealthResult> CheckHealthAsync(NodeRecord node, TimeSpan timeout, CancellationToken stopping)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, stopping);
        using var request = new HttpRequestMessage(HttpMethod.Get, CallbackUri(node, node.HealthCheck))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        try
        {
            using var response = await Invoker.SendAsync(request, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300
                ? new HealthResult(NodeStatus.Ok, $"GET {node.HealthCheck} answered {status}")
                : new HealthResult(NodeStatus.Unavailable, $"GET {node.HealthCheck} answered {status}");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return new HealthResult(NodeStatus.Unavailable, $"GET {node.HealthCheck} did not answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException e) when (IsRefused(e))
        {
            return new HealthResult(NodeStatus.Dirty, $"nothing listens on {node.Host}:{node.Port} (connection refused)");
        }
        catch (HttpRequestException e)
        {
            return new HealthResult(NodeStatus.Unavailable, $"GET {node.HealthCheck} failed: {e.Message}");
        }
    }

    /// <summary>The callback URI, built from the registration's host and port only, so a path can never change the target.</summary>
    public static Uri CallbackUri(NodeRecord node, string path)
    {
        var host = node.Host.Contains(':', StringComparison.Ordinal) ? $"[{node.Host}]" : node.Host;
        var uri = new Uri($"http://{host}:{node.Port}{path}", UriKind.Absolute);
        if (uri.Port != node.Port || !string.Equals(uri.IdnHost.Trim('[', ']'), node.Host, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"callback URI {uri} does not point at {node.Host}:{node.Port}");
        }

        return uri;
    }

    /// <summary>The reply data: the body as JSON when it is one JSON value, else the body as a JSON string; empty is null.</summary>
    public static JsonPayload ToData(byte[] body)
    {
        var span = body.AsSpan().Trim(" \t\r\n"u8);
        if (span.IsEmpty)
        {
            return JsonPayload.Null;
        }

        if (IsJsonValue(span))
        {
            return JsonPayload.FromTrustedUtf8(span.ToArray());
        }

        return JsonPayload.From(Encoding.UTF8.GetString(body));
    }

    private static bool IsJsonValue(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = RequestBodies.MaxDepth });
            while (reader.Read())
            {
            }

            return reader.BytesConsumed == utf8.Length;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static ByteArrayContent Envelope(string topic, string sender, JsonPayload data, TimeSpan timeout)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + data.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("topic", topic);
            writer.WriteString("sender", sender);
            writer.WritePropertyName("data");
            data.WriteTo(writer);
            writer.WriteNumber("timeout", timeout.TotalSeconds);
            writer.WriteEndObject();
        }

        var content = new ByteArrayContent(buffer.WrittenSpan.ToArray());
        content.Headers.ContentType = Json;
        return content;
    }

    /// <summary>Reads at most <paramref name="maxBytes"/>; null when the body is longer.</summary>
    private static async Task<byte[]?> ReadAsync(HttpContent content, int maxBytes, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength is { } declared && declared > maxBytes)
        {
            return null;
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[(int)Math.Min(content.Headers.ContentLength ?? 4096, maxBytes) + 1];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > maxBytes)
                {
                    return null;
                }

                Array.Resize(ref buffer, (int)Math.Min((long)maxBytes + 1, buffer.Length * 2L));
            }

            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        if (length > maxBytes)
        {
            return null;
        }

        Array.Resize(ref buffer, length);
        return buffer;
    }

    /// <summary>An answer that is not readable HTTP/1.1 (bad status line, oversized headers), as opposed to a connection
    /// that failed before any answer.</summary>
    private static bool IsBrokenAnswer(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError or HttpRequestError.ConfigurationLimitExceeded;

    /// <summary>The exception's message with its innermost cause, which says what happened to the connection
    /// ("Connection reset by peer") where the outer message only says that sending failed.</summary>
    private static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is { } next)
        {
            inner = next;
        }

        return ReferenceEquals(inner, e) ? e.Message : $"{e.Message} {inner.Message}";
    }

    private static bool IsRefused(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }
}
