using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Trellis.Api.Errors;
using Trellis.Api.Proxy;
using Trellis.Api.Proxy.Internal;
using Trellis.Grains.Apps;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Apps;

/// <summary>The handlers of the apps HTTP API: create, info, kill, poke, peek, wipe, watch (SSE) and leave.</summary>
internal sealed class AppsApi
{
    private readonly IClusterClient _cluster;
    private readonly BusHost _busHost;
    private readonly NodeRegistry _nodes;
    private readonly AppsOptions _options;
    private readonly byte[]? _adminTokenHash;
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _watches = new(StringComparer.Ordinal);
    private int _watchCount;

    public AppsApi(IClusterClient cluster, BusHost busHost, NodeRegistry nodes, AppsOptions options, SecurityOptions security, ILogger<AppsApi> logger)
    {
        _cluster = cluster;
        _busHost = busHost;
        _nodes = nodes;
        _options = options;
        Logger = logger;
        _adminTokenHash = security.AdminTokenHash();
    }

    public ILogger Logger { get; }

    /// <summary>Watch streams open now.</summary>
    public int OpenWatches => Volatile.Read(ref _watchCount);

    /// <summary><c>POST /apps {app, agent, init?}</c>.</summary>
    public async Task CreateAsync(HttpContext context)
    {
        await AuthorizeAsync(context);
        using var body = await RequestBodies.ReadObjectAsync(context, _options.MaxBodyBytes);
        var root = body.RootElement;
        var app = AppPath.Validate(Text(root, "app", required: true));
        var agent = AppAgents.ValidateName(Text(root, "agent", required: true));
        var init = root.TryGetProperty("init", out var i) ? i.Clone() : (JsonElement?)null;
        var client = await ClientAsync();
        var reply = await client.CreateAsync(app, agent, init, Text(root, "id") is { } id ? MessageId(id) : null, context.RequestAborted);
        await ReplyAsync(context, reply, created: true);
    }

    /// <summary><c>GET /apps/{app}</c>.</summary>
    public async Task InfoAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        var reply = await (await ClientAsync()).InfoAsync(AppPath.Validate(app), context.RequestAborted);
        if (!reply.IsOk)
        {
            await ReplyAsync(context, reply);
            return;
        }

        var info = WithWatchers(reply.Data.ToJsonElement());
        await AppsJson.WriteAsync(context, StatusCodes.Status200OK, info.WriteTo);
    }

    /// <summary>An app's info with <c>watchers</c>, the number of its subscribers, added.</summary>
    internal static JsonElement WithWatchers(JsonElement info)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var property in info.EnumerateObject())
            {
                property.WriteTo(w);
            }

            w.WriteNumber("watchers", info.TryGetProperty("subscribers", out var s) && s.ValueKind == JsonValueKind.Array ? s.GetArrayLength() : 0);
            w.WriteEndObject();
        }

        return JsonSerializer.Deserialize<JsonElement>(buffer.ToArray());
    }

    /// <summary><c>DELETE /apps/{app}</c>: kills the app and its children.</summary>
    public async Task KillAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        await ReplyAsync(context, await (await ClientAsync()).KillAsync(AppPath.Validate(app), context.RequestAborted));
    }

    /// <summary><c>POST /apps/{app}:poke {mark, data, id?}</c>.</summary>
    public async Task PokeAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        AppPath.Validate(app);
        using var body = await RequestBodies.ReadObjectAsync(context, _options.MaxBodyBytes);
        var root = body.RootElement;
        var mark = Text(root, "mark", required: true)!;
        var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
        var id = Text(root, "id") is { } given ? MessageId(given) : null;
        await ReplyAsync(context, await (await ClientAsync()).PokeAsync(app, mark, data, id, cancellationToken: context.RequestAborted));
    }

    /// <summary><c>POST /apps/{app}:peek {path}</c>.</summary>
    public async Task PeekAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        AppPath.Validate(app);
        var path = await OptionalPathAsync(context) ?? "/";
        await ReplyAsync(context, await (await ClientAsync()).PeekAsync(app, path, context.RequestAborted));
    }

    /// <summary><c>POST /apps/{app}:wipe</c>.</summary>
    public async Task WipeAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        await ReplyAsync(context, await (await ClientAsync()).WipeAsync(AppPath.Validate(app), context.RequestAborted));
    }

    /// <summary><c>POST /apps/{app}:leave {subscriber, path}</c>: ends a watch (its stream too when it is in this process).</summary>
    public async Task LeaveAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        AppPath.Validate(app);
        using var body = await RequestBodies.ReadObjectAsync(context, _options.MaxBodyBytes);
        var subscriber = ValidateSubscriber(Text(body.RootElement, "subscriber", required: true)!);
        var path = AppPath.ValidateSubscriptionPath(Text(body.RootElement, "path") ?? "/");
        var reply = await (await ClientAsync()).LeaveAsync(app, path, subscriber, context.RequestAborted);
        await EndWatchStreamAsync(subscriber);
        await ReplyAsync(context, reply);
    }

    /// <summary><c>GET|POST /apps/{app}:watch?path=/x</c>: a Server-Sent Events stream of the watch.</summary>
    public async Task WatchAsync(HttpContext context, string app)
    {
        await AuthorizeAsync(context);
        AppPath.Validate(app);
        var path = AppPath.ValidateSubscriptionPath(context.Request.Query.TryGetValue("path", out var p) && p.Count == 1 ? p[0] : "/");
        ReserveWatch();
        try
        {
            AppWatch watch;
            try
            {
                watch = await (await ClientAsync()).WatchAsync(app, path, context.RequestAborted);
            }
            catch (AppNackException nack)
            {
                await ReplyAsync(context, nack.Reply);
                return;
            }

            await using (watch)
            {
                await StreamWatchAsync(watch, context.RequestAborted, token => new WatchStream(context.Response, watch, _options.KeepAliveInterval).RunAsync(token));
            }
        }
        finally
        {
            ReleaseWatch();
        }
    }

    /// <summary>Takes one of this process's <see cref="AppsOptions.MaxWatches"/> watch streams; pair with <see cref="ReleaseWatch"/>.</summary>
    internal void ReserveWatch()
    {
        if (Interlocked.Increment(ref _watchCount) > _options.MaxWatches)
        {
            Interlocked.Decrement(ref _watchCount);
            throw ApiException.QuotaExceeded($"this process has {_options.MaxWatches} watches open already (Trellis:Apps:MaxWatches); try again later");
        }
    }

    internal void ReleaseWatch() => Interlocked.Decrement(ref _watchCount);

    /// <summary>Runs <paramref name="stream"/> with a token that also fires when the watch is left through this process.</summary>
    internal async Task StreamWatchAsync(AppWatch watch, CancellationToken aborted, Func<CancellationToken, Task> stream)
    {
        using var left = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        _watches[watch.Subscriber] = left;
        AppMetrics.Watching(watch.Agent, +1);
        try
        {
            await stream(left.Token);
        }
        finally
        {
            AppMetrics.Watching(watch.Agent, -1);
            _watches.TryRemove(watch.Subscriber, out _);
        }
    }

    /// <summary>Ends the watch stream of <paramref name="subscriber"/> if it is open in this process.</summary>
    internal async Task EndWatchStreamAsync(string subscriber)
    {
        if (_watches.TryGetValue(subscriber, out var stream))
        {
            await stream.CancelAsync();
        }
    }

    // ---------------------------------------------------------------- helpers

    internal Task<AppClient> ClientAsync() => Task.FromResult(new AppClient(_cluster));

    /// <summary>Any request needs a bearer token: the admin token or the token of a registered node.</summary>
    internal async ValueTask AuthorizeAsync(HttpContext context)
    {
        var token = PresentedToken.Of(context, ProxyApi.BearerToken(context.Request));
        if (token.Matches(_adminTokenHash))
        {
            return;
        }

        if (await _nodes.NodeIdForTokenAsync(token, context.RequestAborted) is null)
        {
            throw ApiException.Unauthenticated("the bearer token is not valid: it is neither the admin token nor the token of a registered node", "invalid_token");
        }
    }

    private async Task<string?> OptionalPathAsync(HttpContext context)
    {
        if (context.Request.Query.TryGetValue("path", out var q) && q.Count == 1)
        {
            return q[0];
        }

        if (context.Request.ContentLength is 0 || (context.Request.ContentLength is null && !context.Request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return null;
        }

        using var body = await RequestBodies.ReadObjectAsync(context, _options.MaxBodyBytes);
        return Text(body.RootElement, "path");
    }

    internal static string ValidateSubscriber(string subscriber) =>
        subscriber.Length is > 0 and <= 64 && subscriber.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? subscriber
            : throw TrellisException.Invalid("subscriber must be the id from the watch-ack event (1 to 64 characters of A-Z, a-z, 0-9, '-', '_')");

    /// <summary>Answers with the app's reply: 200 with its data, or its status with <c>{nack: "..."}</c>.</summary>
    private static Task ReplyAsync(HttpContext context, Message reply, bool created = false)
    {
        if (reply.IsOk)
        {
            var data = reply.Data.IsNull ? default : reply.Data.ToJsonElement();
            var status = created && data.ValueKind == JsonValueKind.Object && data.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.True ? 201 : 200;
            return AppsJson.WriteAsync(context, status, w =>
            {
                if (data.ValueKind == JsonValueKind.Undefined)
                {
                    w.WriteNullValue();
                }
                else
                {
                    data.WriteTo(w);
                }
            });
        }

        return AppsJson.WriteAsync(context, HttpStatus(reply.Code), w =>
        {
            w.WriteStartObject();
            w.WriteString("nack", NackText(reply));
            w.WriteEndObject();
        });
    }

    /// <summary>An app's reply code as an HTTP status: client errors and unavailability pass through, a failed agent is a
    /// bad gateway (the agent, not the gateway, failed), never a 500.</summary>
    internal static int HttpStatus(int code) => code switch
    {
        >= 400 and < 499 => code,
        Codes.RequestTimeout or Codes.HandlerTimeout => StatusCodes.Status504GatewayTimeout,
        Codes.QueueFull => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status502BadGateway,
    };

    internal static string NackText(Message reply)
    {
        if (reply.Data.IsNull)
        {
            return $"refused with code {reply.Code}";
        }

        var data = reply.Data.ToJsonElement();
        return data.ValueKind switch
        {
            JsonValueKind.String => data.GetString()!,
            JsonValueKind.Object when data.TryGetProperty("nack", out var n) && n.ValueKind == JsonValueKind.String => n.GetString()!,
            JsonValueKind.Object when data.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String => e.GetString()!,
            _ => data.GetRawText(),
        };
    }

    internal static string MessageId(string id) =>
        id.Length is > 0 and <= 100 && id.All(static c => c is > ' ' and <= '~')
            ? $"http/{id}"
            : throw TrellisException.Invalid("id must be 1 to 100 printable ASCII characters without spaces");

    private static string? Text(JsonElement root, string name, bool required = false)
    {
        if (root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
        {
            return value.ValueKind == JsonValueKind.String ? value.GetString() : throw TrellisException.Invalid($"'{name}' must be a string, not {JsonFields.Describe(value)}");
        }

        return required ? throw TrellisException.Invalid($"'{name}' is required") : null;
    }
}
