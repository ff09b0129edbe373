using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Trellis.Edge.Local;

/// <summary>A call of the agent's local API, from a program on the device (unix socket or loopback HTTP) or from the
/// cluster (a <c>DeviceCommand</c> down the link).</summary>
/// <param name="Path">The path without the query, e.g. <c>/v1/jobs/3/log</c>.</param>
/// <param name="FromCluster">True for a command that came down the link; routes not mapped for the cluster refuse it.</param>
public sealed record LocalRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, byte[] Body, bool FromCluster = false)
{
    /// <summary>The caller's W3C <c>traceparent</c> header, if it sent one.</summary>
    public string? TraceParent { get; init; }

    public string? QueryValue(string name) => Query.TryGetValue(name, out var value) ? value : null;

    /// <summary>The body as JSON; a 400 <see cref="LocalApiException"/> naming the problem when it is not.</summary>
    public JsonNode? Json()
    {
        if (Body.Length == 0)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(Body);
        }
        catch (JsonException e)
        {
            throw new LocalApiException(400, $"the body is not JSON: {e.Message}");
        }
    }
}

/// <summary>An answer of the local API. <see cref="Stream"/>, when set, writes a body that goes on (<c>log -f</c>) until
/// the caller goes away; over the link only the buffered <see cref="Body"/> travels.</summary>
public sealed record LocalResponse(int Status, byte[] Body, string ContentType = "application/json")
{
    public Func<Stream, CancellationToken, Task>? Stream { get; init; }

    public static LocalResponse Json(int status, JsonNode? body) =>
        new(status, Encoding.UTF8.GetBytes(body?.ToJsonString() ?? "null"));

    public static LocalResponse Ok(JsonNode? body) => Json(200, body);

    public static LocalResponse Text(int status, string text) => new(status, Encoding.UTF8.GetBytes(text), "text/plain; charset=utf-8");

    /// <summary><c>{"error": {"code": "...", "message": "..."}}</c>, the gateway's error shape.</summary>
    public static LocalResponse Error(int status, string message) => Json(status, new JsonObject
    {
        ["error"] = new JsonObject { ["code"] = CodeName(status), ["message"] = message },
    });

    public static string CodeName(int status) => status switch
    {
        400 => "invalid_argument",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "already_exists",
        413 => "too_large",
        503 => "unavailable",
        504 => "timeout",
        _ when status >= 500 => "internal",
        _ => "error",
    };
}

/// <summary>Thrown by a handler for a clear 4xx/5xx answer; the router turns it into <see cref="LocalResponse.Error"/>.</summary>
public sealed class LocalApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>Handles one local API call; <paramref name="route"/> holds the template's <c>{name}</c> values.</summary>
public delegate Task<LocalResponse> LocalHandler(LocalRequest request, IReadOnlyDictionary<string, string> route, CancellationToken cancellationToken);

/// <summary>The agent's local API: method + path template → handler. The local listeners and the link's commands
/// both dispatch here, so a job command behaves the same from a program on the device and from the cluster.</summary>
public sealed class LocalRouter
{
    private readonly List<Route> _routes = [];

    /// <summary>Maps <paramref name="method"/> <paramref name="template"/> (segments, <c>{name}</c> for a value).</summary>
    /// <param name="remote">Whether the cluster may call it through the link (jobs, info: yes; calls into the cluster: no).</param>
    public void Map(string method, string template, LocalHandler handler, bool remote = false)
    {
        var segments = template.Trim('/').Split('/');
        lock (_routes)
        {
            _routes.Add(new Route(method.ToUpperInvariant(), segments, handler, remote));
        }
    }

    /// <summary>Runs the call: 404 for an unknown path, 405 for a known path with another method, 403 for a route the
    /// cluster may not call, the handler's <see cref="LocalApiException"/> as its status, and 500 (logged by the caller,
    /// never the exception's text) for anything else.</summary>
    public async Task<LocalResponse> DispatchAsync(LocalRequest request, CancellationToken cancellationToken)
    {
        var path = request.Path.Trim('/').Split('/');
        Route[] routes;
        lock (_routes)
        {
            routes = [.. _routes];
        }

        var pathKnown = false;
        foreach (var route in routes)
        {
            if (!route.TryMatch(path, out var values))
            {
                continue;
            }

            pathKnown = true;
            if (route.Method != request.Method.ToUpperInvariant())
            {
                continue;
            }

            if (request.FromCluster && !route.Remote)
            {
                return LocalResponse.Error(403, $"{request.Method} {request.Path} is only for programs on the device, not for the cluster");
            }

            try
            {
                return await route.Handler(request, values, cancellationToken).ConfigureAwait(false);
            }
            catch (LocalApiException e)
            {
                return LocalResponse.Error(e.Status, e.Message);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                Failed?.Invoke(request, e);
                return LocalResponse.Error(500, $"{request.Method} {request.Path} failed inside the agent; its log has the details");
            }
        }

        return pathKnown
            ? LocalResponse.Error(405, $"{request.Method} is not allowed on {request.Path}")
            : LocalResponse.Error(404, $"no such local API route: {request.Method} {request.Path}");
    }

    /// <summary>A handler threw something other than <see cref="LocalApiException"/> (for the agent's log).</summary>
    public event Action<LocalRequest, Exception>? Failed;

    private sealed record Route(string Method, string[] Segments, LocalHandler Handler, bool Remote)
    {
        public bool TryMatch(string[] path, out Dictionary<string, string> values)
        {
            values = new Dictionary<string, string>(StringComparer.Ordinal);
            if (path.Length != Segments.Length)
            {
                return false;
            }

            for (var i = 0; i < path.Length; i++)
            {
                var segment = Segments[i];
                if (segment.Length > 2 && segment[0] == '{' && segment[^1] == '}')
                {
                    if (path[i].Length == 0)
                    {
                        return false;
                    }

                    values[segment[1..^1]] = Uri.UnescapeDataString(path[i]);
                }
                else if (!string.Equals(segment, path[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
