using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Trellis.Api.Edge.Internal;
using Trellis.Api.Errors;
using static Trellis.Api.Errors.HttpExchange;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Api.Edge;

/// <summary>The handlers of the edge admin HTTP API under <c>/edge</c>: devices, their tokens, WAN services, commands to
/// devices, and the agent builds.</summary>
internal sealed class EdgeApi(EdgeOperations operations, EdgeBuilds builds, ILogger<EdgeApi> logger)
{
    public ILogger Logger { get; } = logger;

    /// <summary><c>GET /edge/devices</c> → <c>[device, ...]</c>.</summary>
    public async Task ListDevicesAsync(HttpContext context)
    {
        operations.Authorize(context.Request);
        var devices = await operations.ListAsync();
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray();
            foreach (var d in devices)
            {
                EdgeJson.WriteDevice(w, d);
            }

            w.WriteEndArray();
        });
    }

    /// <summary><c>GET /edge/devices/{provider}</c> → the device; 404 unknown.</summary>
    public async Task GetDeviceAsync(HttpContext context, string provider)
    {
        operations.Authorize(context.Request);
        var device = await operations.GetAsync(provider);
        await WriteAsync(context, StatusCodes.Status200OK, w => EdgeJson.WriteDevice(w, device));
    }

    /// <summary><c>POST /edge/devices/{provider}/token</c> with <c>{"grant": ["glob", ...]}</c> (or no body) →
    /// <c>{provider, token, grant}</c>: the only time the token is shown.</summary>
    public async Task IssueTokenAsync(HttpContext context, string provider)
    {
        operations.Authorize(context.Request);
        EdgeOperations.Provider(provider);
        var grant = new List<string?>();
        using (var body = await ReadJsonAsync(context, optional: true))
        {
            if (body is not null)
            {
                var root = body.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw TrellisException.Invalid("the body must be a JSON object {\"grant\": [\"topic glob\", ...]}");
                }

                foreach (var field in root.EnumerateObject())
                {
                    if (field.Name != "grant")
                    {
                        throw TrellisException.Invalid($"unknown field '{field.Name}': the body is {{\"grant\": [\"topic glob\", ...]}}");
                    }

                    if (field.Value.ValueKind == JsonValueKind.Null)
                    {
                        continue;
                    }

                    if (field.Value.ValueKind != JsonValueKind.Array)
                    {
                        throw TrellisException.Invalid("field 'grant' must be an array of topic globs");
                    }

                    foreach (var item in field.Value.EnumerateArray())
                    {
                        grant.Add(item.ValueKind == JsonValueKind.String ? item.GetString() : throw TrellisException.Invalid($"grant[{grant.Count}] must be a string"));
                    }
                }
            }
        }

        var (token, granted) = await operations.IssueTokenAsync(provider, grant);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteString("provider", provider);
            w.WriteString("token", token);
            w.WriteStartArray("grant");
            foreach (var g in granted)
            {
                w.WriteStringValue(g);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary><c>DELETE /edge/devices/{provider}/token</c> → the device (without a token); its link is closed.</summary>
    public async Task RevokeTokenAsync(HttpContext context, string provider)
    {
        operations.Authorize(context.Request);
        var device = await operations.RevokeTokenAsync(provider, context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w => EdgeJson.WriteDevice(w, device));
    }

    /// <summary><c>GET /edge/services?publisher=P&amp;service=S</c> → <c>[{publisher, service, provider, topic}]</c> of online devices.</summary>
    public async Task DiscoverAsync(HttpContext context)
    {
        operations.Authorize(context.Request);
        var services = await operations.DiscoverAsync(Query(context, "publisher"), Query(context, "service"));
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray();
            foreach (var s in services)
            {
                EdgeJson.WriteService(w, s);
            }

            w.WriteEndArray();
        });
    }

    /// <summary><c>POST /edge/devices/{provider}/commands</c> with <c>{method, path, body?, priority?, timeout?}</c> →
    /// <c>{status, body}</c>: what the device's local API answered.</summary>
    public async Task CommandAsync(HttpContext context, string provider)
    {
        operations.Authorize(context.Request);
        EdgeOperations.Provider(provider);
        EdgeCommand command;
        using (var body = await ReadJsonAsync(context, optional: false))
        {
            var root = body!.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw TrellisException.Invalid("the body must be a JSON object {\"method\": \"GET\", \"path\": \"/v1/jobs\", \"body\"?, \"priority\"?, \"timeout\"?}");
            }

            string? method = null, path = null, priority = null;
            var data = JsonPayload.Null;
            double timeout = 0;
            foreach (var field in root.EnumerateObject())
            {
                switch (field.Name)
                {
                    case "method":
                        method = Text(field.Value, "method");
                        break;
                    case "path":
                        path = Text(field.Value, "path");
                        break;
                    case "priority":
                        priority = Text(field.Value, "priority");
                        break;
                    case "body":
                        data = JsonPayload.From(field.Value);
                        break;
                    case "timeout":
                        timeout = field.Value.ValueKind switch
                        {
                            JsonValueKind.Null => 0,
                            JsonValueKind.Number => field.Value.GetDouble(),
                            _ => throw TrellisException.Invalid("field 'timeout' must be a number of seconds"),
                        };
                        break;
                    default:
                        throw TrellisException.Invalid($"unknown field '{field.Name}': a command has method, path, body, priority and timeout");
                }
            }

            command = EdgeOperations.Command(method, path, data, priority, timeout);
        }

        var (status, answer) = await operations.CommandAsync(provider, command, context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("status", status);
            w.WritePropertyName("body");
            if (answer.ValueKind == JsonValueKind.Undefined)
            {
                w.WriteNullValue();
            }
            else
            {
                answer.WriteTo(w);
            }

            w.WriteEndObject();
        });
    }

    /// <summary><c>GET /edge/builds</c> → <c>[{arch, version, sha256, size, path}]</c>.</summary>
    public async Task ListBuildsAsync(HttpContext context)
    {
        operations.Authorize(context.Request);
        var list = builds.List();
        await WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartArray();
            foreach (var b in list)
            {
                EdgeJson.WriteBuild(w, b);
            }

            w.WriteEndArray();
        });
    }

    /// <summary><c>GET /edge/builds/{arch}</c> → the newest build's manifest; 404 when there is none.</summary>
    public async Task LatestBuildAsync(HttpContext context, string arch)
    {
        operations.Authorize(context.Request);
        var build = builds.Latest(EdgeBuilds.Arch(arch)) ?? throw NoBuild(arch);
        await WriteAsync(context, StatusCodes.Status200OK, w => EdgeJson.WriteBuild(w, build));
    }

    /// <summary><c>PUT /edge/builds/{arch}?version=V[&amp;sha256=H]</c> with the binary (application/octet-stream) → 201 the manifest.</summary>
    public async Task UploadBuildAsync(HttpContext context, string arch)
    {
        operations.Authorize(context.Request);
        arch = EdgeBuilds.Arch(arch);
        var version = EdgeBuilds.Version(Query(context, "version"));
        var sha256 = Query(context, "sha256");
        if (context.Request.ContentType is { Length: > 0 } contentType
            && (!MediaTypeHeaderValue.TryParse(contentType, out var media) || !media.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase)))
        {
            throw ApiException.UnsupportedMediaType($"Content-Type '{contentType}' is not a build: send the binary as application/octet-stream");
        }

        if (context.Request.ContentLength is { } length && length > builds.MaxBuildBytes)
        {
            throw ApiException.PayloadTooLarge($"the build is {length} bytes; the limit is {builds.MaxBuildBytes} ({EdgeBuildsOptions.Section}:MaxBuildBytes)");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            // Our own limit applies (with a clear message) instead of Kestrel's default 30 MB.
            limit.MaxRequestBodySize = builds.MaxBuildBytes + 1;
        }

        var build = await builds.AddAsync(arch, version, context.Request.Body, sha256, context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status201Created, w => EdgeJson.WriteBuild(w, build));
    }

    /// <summary><c>GET /edge/builds/{arch}/binary</c> → the newest build's file (admin token, or a device's token with
    /// <c>X-Trellis-Device</c>); headers X-Trellis-Version and X-Trellis-Sha256 name it.</summary>
    public async Task DownloadBuildAsync(HttpContext context, string arch)
    {
        await operations.AuthorizeAdminOrDeviceAsync(context.Request);
        var build = builds.Latest(EdgeBuilds.Arch(arch)) ?? throw NoBuild(arch);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/octet-stream";
        response.ContentLength = build.Size;
        response.Headers["X-Trellis-Version"] = build.Version;
        response.Headers["X-Trellis-Sha256"] = build.Sha256;
        response.Headers.CacheControl = "no-store";
        await response.SendFileAsync(builds.BinaryPath(build), context.RequestAborted);
    }

    private static TrellisException NoBuild(string arch) =>
        new(ErrorKind.NotFound, $"no build for {arch}: upload one with PUT /edge/builds/{arch}?version=V (trellis edge build upload)");

    private static string? Text(JsonElement value, string field) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        _ => throw TrellisException.Invalid($"field '{field}' must be a string"),
    };

    private async Task<JsonDocument?> ReadJsonAsync(HttpContext context, bool optional)
    {
        using var buffer = await HttpExchange.ReadBodyAsync(context, operations.MaxBodyBytes);

        if (buffer.Length == 0)
        {
            return optional ? null : throw TrellisException.Invalid("request body is empty: send a JSON object");
        }

        try
        {
            return JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"the body is not valid JSON: {e.Message}");
        }
    }
}
