using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Flows.Fbp.Internal;
using Trellis.Api.Proxy;
using Trellis.Flows.Networks;

namespace Trellis.Api.Flows.Fbp;

/// <summary>The FBP runtime protocol (the noflo protocol Flowhub and fbp-protocol clients speak) as a WebSocket at
/// <c>/fbp</c> (subprotocol <c>noflo</c>, or none) over <see cref="IFlowNetworks"/>. Every message must carry the
/// secret: <c>Trellis:Flows:Secret</c>, else the admin token; with neither configured only loopback clients connect.</summary>
public static class FbpEndpoints
{
    public const string Path = "/fbp";

    public const string Subprotocol = "noflo";

    public const string SecretKey = "Trellis:Flows:Secret";

    public const string RuntimeIdKey = "Trellis:Flows:RuntimeId";

    /// <summary>The largest message read; a larger one is answered with an error and the socket closed with 1009.</summary>
    public const int MaxMessageBytes = 1024 * 1024;

    public static WebApplication MapTrellisFbp(this WebApplication app)
    {
        var configuration = app.Services.GetRequiredService<IConfiguration>();
        var secret = configuration[SecretKey] is { Length: > 0 } s ? s : app.Services.GetRequiredService<SecurityOptions>().AdminToken;
        var auth = new FbpAuth(secret);
        var id = Guid.TryParse(configuration[RuntimeIdKey], out var configured) ? configured : Guid.NewGuid();
        var runtime = new FbpRuntime(id.ToString(), $"Trellis ({app.Environment.ApplicationName})", auth, MaxMessageBytes,
            app.Services.GetService<TimeProvider>() ?? TimeProvider.System);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Trellis.Api.Flows.Fbp");

        app.UseWebSockets();
        app.Map(Path, async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                return Results.Json(
                    new { error = $"{Path} is the FBP runtime protocol over WebSocket (subprotocol '{Subprotocol}'): connect with a WebSocket client" },
                    statusCode: StatusCodes.Status426UpgradeRequired);
            }

            var remote = context.Connection.RemoteIpAddress;
            if (!auth.Required && (remote is null || !IPAddress.IsLoopback(remote)))
            {
                return Results.Json(
                    new { error = $"the FBP runtime is served to loopback clients only (set {SecretKey} or Trellis:Security:AdminToken to open it to others with that secret)" },
                    statusCode: StatusCodes.Status403Forbidden);
            }

            var subprotocol = context.WebSockets.WebSocketRequestedProtocols.Contains(Subprotocol, StringComparer.Ordinal) ? Subprotocol : null;
            using var socket = await context.WebSockets.AcceptWebSocketAsync(subprotocol);
            FbpLog.Connected(logger, remote?.ToString(), subprotocol ?? "none");
            await using (var session = new FbpSession(socket, runtime, context.RequestServices.GetService<IFlowNetworks>(), remote?.ToString(), logger))
            {
                await session.RunAsync(context.RequestAborted);
            }

            FbpLog.Disconnected(logger, remote?.ToString());
            return Results.Empty;
        });
        return app;
    }
}
