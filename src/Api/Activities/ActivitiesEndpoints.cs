using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Errors;
using Trellis.Api.Flows;
using Trellis.Core.Errors;
using Trellis.Flows.Activities;
using Trellis.Flows.Graphs;
using Trellis.Grains.Activities;

namespace Trellis.Api.Activities;

/// <summary>The activities API: <c>GET /activities</c> (each activity with where it runs and its state there),
/// <c>GET /activities/{id}</c>, <c>PUT /activities/{id}/hosts/{host}</c> (a host's state report) and
/// <c>POST /activities/connect</c> (<c>{"from":"a","to":"b","graph"?,"out"?,"in"?}</c>: the edge a OUT → IN b).</summary>
public static class ActivitiesEndpoints
{
    public const string DefaultGraph = "activities/main";

    public static IEndpointRouteBuilder MapTrellisActivities(this IEndpointRouteBuilder endpoints)
    {
        var logger = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("Trellis.Api.Activities");
        endpoints.MapGet("/activities", Handle(logger, ListAsync));
        endpoints.MapGet("/activities/{id}", Handle(logger, GetAsync));
        endpoints.MapPut("/activities/{id}/hosts/{host}", Handle(logger, ReportAsync));
        endpoints.MapPost("/activities/connect", Handle(logger, ConnectAsync));
        return endpoints;
    }

    private static RequestDelegate Handle(ILogger logger, Func<HttpContext, Task> handler) => async context =>
    {
        try
        {
            await handler(context);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (JsonException e)
        {
            await ErrorResponses.WriteAsync(context, ErrorKind.InvalidArgument, StatusCodes.Status400BadRequest, $"the body is not valid JSON: {e.Message}");
        }
        catch (Exception e)
        {
            await ErrorResponses.WriteAsync(context, e, logger);
        }
    };

    private static async Task ListAsync(HttpContext context)
    {
        Authorize(context);
        var grains = context.RequestServices.GetRequiredService<IGrainFactory>();
        var ids = await grains.GetGrain<IActivityDirectoryGrain>(IActivityDirectoryGrain.Key).List();
        var records = await Task.WhenAll(ids.Select(id => grains.GetGrain<IActivityGrain>(id).Get()));
        var array = new JsonArray();
        foreach (var record in records)
        {
            if (record is not null)
            {
                array.Add(ToJson(record));
            }
        }

        await WriteAsync(context, StatusCodes.Status200OK, array);
    }

    private static async Task GetAsync(HttpContext context)
    {
        Authorize(context);
        var id = ActivityId(context);
        var record = await context.RequestServices.GetRequiredService<IGrainFactory>().GetGrain<IActivityGrain>(id).Get()
            ?? throw new TrellisException(ErrorKind.NotFound, $"activity {id} was never reported by a host");
        await WriteAsync(context, StatusCodes.Status200OK, ToJson(record));
    }

    /// <summary>A host's report: <c>{status, pid?, restarts?, lastError?, changed?, role?, name?, reportInterval?, manifest?, tags?}</c>;
    /// a host that gives <c>reportInterval</c> (seconds) shows <c>offline</c> once it missed three reports.</summary>
    private static async Task ReportAsync(HttpContext context)
    {
        Authorize(context);
        var id = ActivityId(context);
        var host = context.Request.RouteValues["host"] as string ?? "";
        if (host.Length is 0 or > 200)
        {
            throw TrellisException.Invalid("the host id in the path is empty or longer than 200 characters");
        }

        if (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) is not JsonObject body)
        {
            throw TrellisException.Invalid("the body must be a JSON object with 'status'");
        }

        var state = ActivityStateJson.FromJson(id, host, body);
        string? manifest = null;
        string[] tags = [];
        if (body["manifest"] is JsonObject m)
        {
            var parsed = ActivityManifest.Parse(m.ToJsonString(), "field 'manifest'");
            if (parsed.Id != id)
            {
                throw TrellisException.Invalid($"field 'manifest': its id {parsed.Id} is not the activity {id} of the path");
            }

            manifest = parsed.ToJson().ToJsonString();
            tags = [.. parsed.Tags];
        }

        if (body["tags"] is JsonArray t)
        {
            tags = [.. t.Select(static n => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw TrellisException.Invalid("field 'tags' must be an array of strings"))];
        }

        if (state.Changed == DateTimeOffset.MinValue)
        {
            state = state with { Changed = context.RequestServices.GetService<TimeProvider>()?.GetUtcNow() ?? DateTimeOffset.UtcNow };
        }

        await GrainActivityStateSink.Report(context.RequestServices.GetRequiredService<IGrainFactory>(), state, manifest, tags);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task ConnectAsync(HttpContext context)
    {
        Authorize(context);
        if (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) is not JsonObject body)
        {
            throw TrellisException.Invalid("the body must be a JSON object {\"from\": \"a\", \"to\": \"b\"}");
        }

        var from = Role(body, "from");
        var to = Role(body, "to");
        var graph = FlowOperations.GraphName(Text(body, "graph") ?? DefaultGraph);
        var networks = context.RequestServices.GetRequiredService<FlowOperations>().Networks;
        var current = await networks.GetGraphAsync(graph, context.RequestAborted);
        var src = new FlowPortRef(from.Role, current.FoldPort(Text(body, "out") ?? "out"));
        var tgt = new FlowPortRef(to.Role, current.FoldPort(Text(body, "in") ?? "in"));
        if (!current.Processes.ContainsKey(from.Role))
        {
            await networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.AddNode, Node: from.Role, Component: from.Component), context.RequestAborted);
        }

        if (!current.Processes.ContainsKey(to.Role))
        {
            await networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.AddNode, Node: to.Role, Component: to.Component), context.RequestAborted);
        }

        var setup = current.Edges.Any(e => e.Src == src && e.Tgt == tgt)
            ? await networks.GetSetupAsync(graph, context.RequestAborted)
            : await networks.ApplyAsync(graph, new GraphChange(GraphChangeKind.AddEdge, Src: src, Tgt: tgt), context.RequestAborted);
        await WriteAsync(context, StatusCodes.Status200OK, new JsonObject
        {
            ["graph"] = graph,
            ["src"] = new JsonObject { ["process"] = src.Process, ["port"] = src.Port },
            ["tgt"] = new JsonObject { ["process"] = tgt.Process, ["port"] = tgt.Port },
            ["bindings"] = new JsonArray([.. setup.Bindings.SelectMany(static b => b.Describe()).Select(static l => (JsonNode?)JsonValue.Create(l))]),
            ["pending"] = new JsonArray([.. setup.Pending.Select(static p => (JsonNode?)JsonValue.Create(p))]),
            ["problems"] = new JsonArray([.. setup.Problems.Select(static p => (JsonNode?)JsonValue.Create(p))]),
        });
    }

    /// <summary>An activity named by id (its reported manifest gives role and name), by name or by role.</summary>
    private static (string Role, string Component) Role(JsonObject body, string field)
    {
        var text = Text(body, field) ?? throw TrellisException.Invalid($"field '{field}' is missing (an activity name or role)");
        if (!ActivityManifest.IsValidName(text))
        {
            throw TrellisException.Invalid($"field '{field}' '{text}' is not an activity name or role");
        }

        return (ActivityManifest.RoleOf(text), text);
    }

    private static string? Text(JsonObject o, string field) => o[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw TrellisException.Invalid($"field '{field}' must be a string"),
    };

    private static Guid ActivityId(HttpContext context) =>
        Guid.TryParse(context.Request.RouteValues["id"] as string, out var id)
            ? id
            : throw TrellisException.Invalid($"the activity id '{context.Request.RouteValues["id"]}' in the path is not a UUID");

    private static void Authorize(HttpContext context) =>
        context.RequestServices.GetRequiredService<FlowOperations>().Authorize(context.Request);

    private static JsonObject ToJson(ActivityRecord record)
    {
        var manifest = record.Manifest is null ? null : JsonNode.Parse(record.Manifest) as JsonObject;
        var hosts = new JsonArray();
        foreach (var h in record.Hosts)
        {
            hosts.Add(new JsonObject
            {
                ["host"] = h.Host,
                ["status"] = h.Status,
                ["pid"] = h.Pid,
                ["restarts"] = h.Restarts,
                ["lastError"] = h.LastError,
                ["changed"] = h.Changed.ToString("O"),
                ["role"] = h.Role,
                ["reportInterval"] = h.ReportInterval > TimeSpan.Zero ? h.ReportInterval.TotalSeconds : null,
            });
        }

        return new JsonObject
        {
            ["id"] = record.Id.ToString(),
            ["name"] = manifest?["name"]?.DeepClone(),
            ["version"] = manifest?["version"]?.DeepClone(),
            ["tags"] = new JsonArray([.. record.Tags.Select(static t => (JsonNode?)JsonValue.Create(t))]),
            ["enabled"] = record.Enabled,
            ["hosts"] = hosts,
            ["manifest"] = manifest,
        };
    }

    private static async Task WriteAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
