using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Edge.Local;

namespace Trellis.Edge.Services;

/// <summary>The local API's service routes: list, publish, unpublish, discover.</summary>
public static class ServiceRoutes
{
    /// <summary>The longest wait a discover call may ask for.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(10);

    public static void Map(LocalRouter router, ServiceTable table, Discovery discovery)
    {
        router.Map("GET", "/v1/services", (_, _, _) =>
            Task.FromResult(LocalResponse.Ok(new JsonArray([.. table.Published.Select(static s => (JsonNode)ServiceTable.ToJson(s))]))), remote: true);

        router.Map("POST", "/v1/services", (request, _, _) =>
        {
            if (request.Json() is not JsonObject body)
            {
                throw new LocalApiException(400, "the body must be a JSON object {publisher, service, url, scopes?}");
            }

            var scopes = Scope.OS | Scope.Lan | Scope.Wan;
            if (body["scopes"] is { } scopesNode)
            {
                if (scopesNode is not JsonArray array || array.Any(static s => s?.GetValueKind() != JsonValueKind.String))
                {
                    throw new LocalApiException(400, "scopes must be an array of strings such as [\"os\", \"lan\", \"wan\"]");
                }

                if (!ScopeNames.TryParse(array.Select(static s => s!.GetValue<string>()), "scopes", out scopes, out var problem))
                {
                    throw new LocalApiException(400, problem!);
                }

                if ((scopes & Scope.Process) != 0)
                {
                    throw new LocalApiException(400, "scopes may not name process: that scope is for the agent's own services");
                }
            }

            var published = table.Publish(new LocalService(Text(body, "publisher"), Text(body, "service"), Text(body, "url"), scopes));
            return Task.FromResult(LocalResponse.Json(201, ServiceTable.ToJson(published)));
        });

        router.Map("DELETE", "/v1/services/{publisher}/{service}", (_, route, _) =>
        {
            var publisher = route["publisher"];
            var service = route["service"];
            if ((ServiceNames.Problem(publisher, "publisher") ?? ServiceNames.Problem(service, "service")) is { } problem)
            {
                throw new LocalApiException(400, problem);
            }

            if (!table.Unpublish(publisher, service))
            {
                throw new LocalApiException(404, $"{publisher}/{service} is not published on this device");
            }

            return Task.FromResult(LocalResponse.Ok(new JsonObject { ["publisher"] = publisher, ["service"] = service, ["status"] = "unpublished" }));
        });

        router.Map("GET", "/v1/discover", async (request, _, cancellationToken) =>
        {
            var publisher = request.QueryValue("publisher") ?? "*";
            var service = request.QueryValue("service") ?? "*";
            if ((ServiceNames.Problem(publisher, "publisher", pattern: true) ?? ServiceNames.Problem(service, "service", pattern: true)) is { } problem)
            {
                throw new LocalApiException(400, problem);
            }

            var scopes = Scope.All;
            if (request.QueryValue("scope") is { } scopeText && !ScopeNames.TryParse(scopeText, "scope", out scopes, out var scopeProblem))
            {
                throw new LocalApiException(400, scopeProblem!);
            }

            var timeout = TimeSpan.Zero;
            if (request.QueryValue("timeout") is { } timeoutText)
            {
                if (!double.TryParse(timeoutText, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds)
                    || seconds < 0 || seconds > MaxTimeout.TotalSeconds)
                {
                    throw new LocalApiException(400, $"timeout '{timeoutText}' is not a number of seconds from 0 to {MaxTimeout.TotalSeconds}");
                }

                timeout = TimeSpan.FromSeconds(seconds);
            }

            var found = await discovery.DiscoverAsync(publisher, service, scopes, timeout, cancellationToken).ConfigureAwait(false);
            return LocalResponse.Ok(new JsonArray([.. found.Select(static f => (JsonNode)ToJson(f))]));
        });
    }

    public static JsonObject ToJson(FoundService found) => new()
    {
        ["publisher"] = found.Publisher,
        ["service"] = found.Service,
        ["provider"] = found.Provider,
        ["scope"] = ScopeNames.Name(found.Scope),
        ["address"] = found.Address,
    };

    private static string Text(JsonObject body, string field) =>
        body[field] is { } node && node.GetValueKind() == JsonValueKind.String
            ? node.GetValue<string>()
            : throw new LocalApiException(400, $"{field} is missing or not a string");
}
