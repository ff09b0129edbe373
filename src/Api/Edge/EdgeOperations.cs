using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Trellis.Api.Edge.Internal;
using Trellis.Api.Errors;
using Trellis.Api.Proxy;
using Trellis.Core.Bus;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Nodes;
using Trellis.Core.Topics;
using Trellis.Grains.Devices;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Edge;

/// <summary>A command of a device's local API: <c>{method, path, body?, priority?, timeout?}</c>, checked.</summary>
internal sealed record EdgeCommand(string Method, string Path, JsonPayload Body, string Priority, TimeSpan Timeout);

/// <summary>A service of an online device (the WAN scope of discovery).</summary>
internal sealed record EdgeServiceEntry(string Publisher, string Service, string Provider)
{
    /// <summary>The topic that reaches this device's instance.</summary>
    public string Topic => EdgeTopics.Instance(Publisher, Service, Provider);
}

/// <summary>The operations of the edge admin API shared by HTTP (<see cref="EdgeApi"/>) and gRPC (<see cref="EdgeGrpcService"/>):
/// authorisation, validation of providers, grants and commands, the devices' grains, discovery, and commands over the bus.</summary>
internal sealed class EdgeOperations
{
    public const string DeviceHeader = "X-Trellis-Device";

    public static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MaxCommandTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The most topic globs in one grant.</summary>
    public const int MaxGrant = 100;

    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE"];

    private readonly IServiceProvider _services;
    private readonly BusHost _bus;
    private readonly byte[]? _adminTokenHash;
    private readonly int _maxTopicLength;

    public EdgeOperations(IServiceProvider services, BusHost bus, SecurityOptions security, MessagingOptions messaging, ProxyOperations proxy)
    {
        _services = services;
        _bus = bus;
        _adminTokenHash = security.AdminTokenHash();
        _maxTopicLength = messaging.MaxTopicLength;
        MaxBodyBytes = proxy.MaxBodyBytes;
    }

    /// <summary>The largest JSON request body.</summary>
    public int MaxBodyBytes { get; }

    private IGrainFactory Grains => _services.GetService<IGrainFactory>()
        ?? throw new TrellisException(ErrorKind.Unavailable, "edge devices are not available in this process (no Orleans client)");

    // ---------------------------------------------------------------- auth

    /// <summary>The edge admin API is cluster-wide: only the admin token passes when one is configured (open otherwise,
    /// the loopback development mode the gateway announces at start-up).</summary>
    public void Authorize(HttpRequest request)
    {
        if (_adminTokenHash is null)
        {
            return;
        }

        if (!IsAdmin(Bearer(request.Headers.Authorization)))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, "the edge API needs the admin token");
        }
    }

    /// <summary>The admin token, or a device's own token with <c>X-Trellis-Device: &lt;provider&gt;</c> (what an agent
    /// presents to download a build).</summary>
    public async Task AuthorizeAdminOrDeviceAsync(HttpRequest request)
    {
        if (_adminTokenHash is null)
        {
            return;
        }

        var token = Bearer(request.Headers.Authorization);
        if (IsAdmin(token))
        {
            return;
        }

        var device = request.Headers[DeviceHeader];
        if (device.Count != 1 || !DeviceIds.IsValid(device[0]))
        {
            throw new TrellisException(ErrorKind.PermissionDenied, $"downloading a build needs the admin token, or a device's token with the header {DeviceHeader}: <provider>");
        }

        if (await Grains.GetGrain<IDeviceGrain>(device[0]!).Authenticate(token) is null)
        {
            throw new TrellisException(ErrorKind.PermissionDenied, $"the token is not device {device[0]}'s current token");
        }
    }

    private bool IsAdmin(string token) => _adminTokenHash is not null && NodeCredentials.Matches(token, _adminTokenHash);

    private static string Bearer(StringValues values)
    {
        if (values.Count == 0)
        {
            throw ApiException.Unauthenticated("Authorization: Bearer <token> is required (the admin token)");
        }

        var header = values.Count == 1 ? values[0] ?? "" : throw ApiException.Unauthenticated("send one Authorization header", "invalid_request");
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7
            ? header[7..].Trim()
            : throw ApiException.Unauthenticated("the Authorization header must be 'Bearer <token>'", "invalid_request");
    }

    // ---------------------------------------------------------------- validation

    /// <summary>A provider id (1 to 64 of a-z, 0-9, '-'); INVALID_ARGUMENT naming it otherwise.</summary>
    public static string Provider(string? provider) =>
        DeviceIds.Problem(provider) is { } problem ? throw TrellisException.Invalid(problem) : provider!;

    /// <summary>A grant: topic globs ('*' matches any run of characters), each a valid topic pattern.</summary>
    public string[] Grant(IEnumerable<string?> grant)
    {
        var list = new List<string>();
        foreach (var glob in grant)
        {
            var field = $"grant[{list.Count}]";
            if (string.IsNullOrEmpty(glob))
            {
                throw TrellisException.Invalid($"{field} is empty: give a topic or a glob such as sensors.*");
            }

            TopicRules.ValidatePattern(glob, _maxTopicLength, field);
            list.Add(glob);
            if (list.Count > MaxGrant)
            {
                throw TrellisException.Invalid($"grant has more than {MaxGrant} globs");
            }
        }

        return [.. list.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>A name pattern of discovery: empty means '*'.</summary>
    public static string Pattern(string? pattern, string field)
    {
        if (string.IsNullOrEmpty(pattern))
        {
            return "*";
        }

        return pattern.Length <= 200 && !pattern.Any(static c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '/')
            ? pattern
            : throw TrellisException.Invalid($"{field} '{(pattern.Length > 80 ? pattern[..80] + "…" : pattern)}' is not a name or pattern: at most 200 characters without whitespace or '/'");
    }

    /// <summary>A command of the device's local API; the priority is high, normal or low; the timeout in seconds (0: 30).</summary>
    public static EdgeCommand Command(string? method, string? path, JsonPayload body, string? priority, double timeout)
    {
        if (string.IsNullOrEmpty(method))
        {
            throw TrellisException.Invalid("method is required: GET, POST, PUT or DELETE");
        }

        var verb = method.ToUpperInvariant();
        if (Array.IndexOf(Methods, verb) < 0)
        {
            throw TrellisException.Invalid($"method '{(method.Length > 20 ? method[..20] : method)}' is not GET, POST, PUT or DELETE");
        }

        if (string.IsNullOrEmpty(path))
        {
            throw TrellisException.Invalid("path is required: the device's local API path, such as /v1/jobs");
        }

        if (!path.StartsWith("/v1/", StringComparison.Ordinal) || path.Length > 2000 || path.Any(static c => char.IsWhiteSpace(c) || char.IsControl(c) || c > '~'))
        {
            throw TrellisException.Invalid($"path '{(path.Length > 80 ? path[..80] + "…" : path)}' is not a path of the device's local API: it starts with /v1/ and has no whitespace (at most 2000 characters)");
        }

        var level = string.IsNullOrEmpty(priority) ? "normal" : priority.ToLowerInvariant();
        if (level is not ("high" or "normal" or "low"))
        {
            throw TrellisException.Invalid($"priority '{(priority!.Length > 20 ? priority[..20] : priority)}' is not high, normal or low");
        }

        if (double.IsNaN(timeout) || timeout < 0 || timeout > MaxCommandTimeout.TotalSeconds)
        {
            throw TrellisException.Invalid($"timeout must be 0 (for {DefaultCommandTimeout.TotalSeconds} s) to {MaxCommandTimeout.TotalSeconds} seconds (was {timeout})");
        }

        return new EdgeCommand(verb, path, body, level, timeout == 0 ? DefaultCommandTimeout : TimeSpan.FromSeconds(timeout));
    }

    // ---------------------------------------------------------------- devices

    /// <summary>Every known device, by provider id.</summary>
    public Task<DeviceRecord[]> ListAsync() => DeviceDirectory.ListAsync(Grains);

    /// <summary>The device; NOT_FOUND when it never connected and has no token.</summary>
    public async Task<DeviceRecord> GetAsync(string provider) =>
        await Grains.GetGrain<IDeviceGrain>(Provider(provider)).Get() ?? throw Unknown(provider);

    /// <summary>Issues a token for the device (known or not: this is how a device becomes known).</summary>
    public async Task<(string Token, string[] Grant)> IssueTokenAsync(string provider, IEnumerable<string?> grant)
    {
        provider = Provider(provider);
        var checkedGrant = Grant(grant);
        var token = await Grains.GetGrain<IDeviceGrain>(provider).IssueToken(checkedGrant);
        return (token, checkedGrant);
    }

    /// <summary>Revokes the device's token and tells the gateway holding its link to close it; the device as it is now.</summary>
    public async Task<DeviceRecord> RevokeTokenAsync(string provider, CancellationToken cancellationToken)
    {
        provider = Provider(provider);
        var device = Grains.GetGrain<IDeviceGrain>(provider);
        var before = await device.Get() ?? throw Unknown(provider);
        await device.RevokeToken();
        var bus = await _bus.Started.WaitAsync(cancellationToken);
        await bus.SignalAsync(EdgeTopics.Revoked(provider), JsonPayload.Null, cancellationToken);
        // A device that never connected is known only by its token: shown once more as it is now, without one.
        return await device.Get() ?? before with { HasToken = false };
    }

    /// <summary>The services of online devices whose publisher and service match the patterns ('*' any run of characters).</summary>
    public Task<EdgeServiceEntry[]> DiscoverAsync(string? publisher, string? service) =>
        DeviceDirectory.DiscoverAsync(Grains, Pattern(publisher, "publisher"), Pattern(service, "service"));

    /// <summary>Runs a command on the device through the link that holds it (the topic <see cref="EdgeTopics.Control"/>);
    /// the device's status and JSON body.</summary>
    public async Task<(int Status, JsonElement Body)> CommandAsync(string provider, EdgeCommand command, CancellationToken cancellationToken)
    {
        provider = Provider(provider);
        if (await Grains.GetGrain<IDeviceGrain>(provider).Get() is null)
        {
            throw Unknown(provider);
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("method", command.Method);
            w.WriteString("path", command.Path);
            if (!command.Body.IsNull)
            {
                w.WritePropertyName("body");
                command.Body.WriteTo(w);
            }

            w.WriteString("priority", command.Priority);
            w.WriteNumber("timeout", command.Timeout.TotalSeconds);
            w.WriteEndObject();
        }

        var bus = await _bus.Started.WaitAsync(cancellationToken);
        var reply = await bus.RequestAsync(EdgeTopics.Control(provider), JsonPayload.FromTrustedUtf8(buffer.WrittenMemory.ToArray()), command.Timeout, cancellationToken);
        switch (reply.Code)
        {
            case Codes.Ok:
                break;
            case Codes.NotFound:
                throw new TrellisException(ErrorKind.NotFound, $"device {provider} is offline");
            case Codes.RequestTimeout or Codes.HandlerTimeout:
                throw new TrellisException(ErrorKind.DeadlineExceeded, $"device {provider} did not answer {command.Method} {command.Path} within {command.Timeout.TotalSeconds} s");
            default:
                throw new TrellisException(ErrorKind.Unavailable, $"the command to device {provider} failed with code {reply.Code}: {Shorten(reply.Data.ToString())}");
        }

        var data = reply.Data.IsNull ? default : reply.Data.ToJsonElement();
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("status", out var status) || !status.TryGetInt32(out var code))
        {
            throw new TrellisException(ErrorKind.Unavailable, $"device {provider}'s link answered the command without a status: {Shorten(reply.Data.ToString())}");
        }

        return (code, data.TryGetProperty("body", out var body) ? body.Clone() : default);
    }

    private static TrellisException Unknown(string provider) => new(ErrorKind.NotFound, $"device {provider} is unknown: issue it a token first (POST /edge/devices/{provider}/token)");

    private static string Shorten(string text) => text.Length > 200 ? text[..200] + "…" : text;
}
