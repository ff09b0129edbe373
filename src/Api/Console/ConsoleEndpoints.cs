using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Console.Internal;
using Trellis.Api.Dashboard;
using Trellis.Api.Proxy;
using Trellis.Core.Bus;
using Trellis.Core.Nodes;
using Trellis.Grains.Nodes;
using Trellis.Hosting.Configuration;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Console;

/// <summary>The Trellis console at <c>/console</c>: pages for the cluster, nodes, apps, flows, activities, devices, errors
/// and topics, fed by one Server-Sent Events stream that runs only while someone watches. Open to loopback callers; from
/// anywhere else it takes the admin token, as the Orleans dashboard does.</summary>
public static class ConsoleEndpoints
{
    public const string Path = "/console";

    public static IServiceCollection AddTrellisConsole(this IServiceCollection services, IConfiguration configuration)
    {
        var options = ConfigurationBinding.Bind<ConsoleOptions>(configuration, ConsoleOptions.Section).Validate();
        services.AddSingleton(options);
        if (!options.Enabled)
        {
            return services;
        }

        var gatewayId = configuration["Trellis:Gateway:Id"];
        services.AddSingleton(sp => new ClusterReader(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<NodeRegistry>(),
            gatewayId is { Length: > 0 } ? gatewayId : (sp.GetRequiredService<INodeStore>() as GrainNodeStore)?.Gateway ?? Environment.MachineName,
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton(sp => new ConsoleHub(
            options,
            sp.GetRequiredService<ClusterReader>(),
            sp.GetRequiredService<BusHost>(),
            sp.GetRequiredService<MessagingOptions>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetRequiredService<ILogger<ConsoleHub>>()));
        return services;
    }

    public static WebApplication MapTrellisConsole(this WebApplication app)
    {
        if (app.Services.GetRequiredService<ConsoleOptions>() is not { Enabled: true })
        {
            return app;
        }

        var security = app.Services.GetRequiredService<SecurityOptions>();
        var adminHash = security.AdminTokenHash();
        app.UseWhen(static c => c.Request.Path.StartsWithSegments(Path), branch => branch.Use((context, next) => GuardAsync(context, adminHash, next)));

        // One route matches /console and /console/; the pages' relative links need the slash.
        app.MapGet(Path, static (HttpContext c) =>
        {
            if (c.Request.Path.Value?.EndsWith('/') != true)
            {
                c.Response.Redirect($"{c.Request.PathBase}{Path}/");
                return Task.CompletedTask;
            }

            return ConsoleAssets.ServeAsync(c, "index.html");
        });
        app.MapGet(Path + "/assets/{file}", static (HttpContext c, string file) => ConsoleAssets.ServeAsync(c, file));
        app.MapGet(Path + "/api/snapshot", SnapshotAsync);
        app.MapGet(Path + "/api/graphs/{name}", GraphAsync);
        app.MapGet(Path + "/events", EventsAsync);
        return app;
    }

    /// <summary>Lets a loopback caller, or one with the admin token, through to the console (the dashboard's rule);
    /// answers anyone else 401 with a JSON error that says what is needed.</summary>
    internal static async Task GuardAsync(HttpContext context, byte[]? adminHash, RequestDelegate next)
    {
        if (DashboardEndpoints.Allowed(context, adminHash))
        {
            // Nothing the console serves may be kept by a shared cache or framed by another site.
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers.XFrameOptions = "DENY";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            await next(context);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        if (adminHash is not null)
        {
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"trellis console\", Bearer";
        }

        await context.Response.WriteAsJsonAsync(new
        {
            error = adminHash is null
                ? "the console is served to loopback callers only (set Trellis:Security:AdminToken to open it to others with that token)"
                : "the console needs the admin token off loopback: Authorization: Bearer <token>, or basic auth with the token as password",
        });
    }

    private static async Task SnapshotAsync(HttpContext context, ConsoleHub hub)
    {
        var snapshot = await hub.SnapshotAsync(context.RequestAborted);
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(snapshot, context.RequestAborted);
    }

    private static async Task GraphAsync(HttpContext context, ConsoleHub hub, string name)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        bool found;
        await using (var json = new Utf8JsonWriter(buffer))
        {
            found = await hub.Reader.WriteGraphAsync(json, name);
        }

        if (!found)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsJsonAsync(new { error = $"no graph named '{name}'" });
            return;
        }

        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    /// <summary><c>GET /console/events</c>: a <c>snapshot</c> event now and then one per interval, until the client leaves.</summary>
    private static async Task EventsAsync(HttpContext context, ConsoleHub hub)
    {
        var aborted = context.RequestAborted;
        if (await hub.JoinAsync(aborted) is not { } viewer)
        {
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            await context.Response.WriteAsJsonAsync(new { error = "too many console viewers in this process (Trellis:Console:MaxViewers)" });
            return;
        }

        try
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers["X-Accel-Buffering"] = "no";
            await WriteEventAsync(context, await hub.SnapshotAsync(aborted), aborted);
            await foreach (var snapshot in viewer.Channel.Reader.ReadAllAsync(aborted))
            {
                await WriteEventAsync(context, snapshot, aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
            // The viewer went away mid-write.
        }
        finally
        {
            await hub.LeaveAsync(viewer);
        }
    }

    private static async Task WriteEventAsync(HttpContext context, byte[] snapshot, CancellationToken cancellationToken)
    {
        var body = context.Response.Body;
        await body.WriteAsync("event: snapshot\ndata: "u8.ToArray(), cancellationToken);
        await body.WriteAsync(snapshot, cancellationToken);
        await body.WriteAsync("\n\n"u8.ToArray(), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }
}
