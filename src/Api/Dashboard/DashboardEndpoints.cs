using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Dashboard;
using Trellis.Api.Proxy;
using Trellis.Core.Nodes;

namespace Trellis.Api.Dashboard;

/// <summary>The Orleans dashboard at <c>/dashboard</c>: open to loopback callers; from anywhere else it takes the admin
/// token, as a bearer token or as the password of HTTP basic auth (any user name), and without an admin token it is
/// loopback only.</summary>
public static class DashboardEndpoints
{
    public const string Path = "/dashboard";

    public static WebApplication MapTrellisDashboard(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<SecurityOptions>();
        var adminHash = security.AdminTokenHash();
        app.UseWhen(static c => c.Request.Path.StartsWithSegments(Path), branch => branch.Use(async (context, next) =>
        {
            if (Allowed(context, adminHash))
            {
                await next(context);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            if (adminHash is not null)
            {
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"trellis dashboard\", Bearer";
            }

            await context.Response.WriteAsJsonAsync(new
            {
                error = adminHash is null
                    ? "the dashboard is served to loopback callers only (set Trellis:Security:AdminToken to open it to others with that token)"
                    : "the dashboard needs the admin token off loopback: Authorization: Bearer <token>, or basic auth with the token as password",
            });
        }));
        app.MapOrleansDashboard(routePrefix: Path);
        return app;
    }

    /// <summary>Whether the caller may see the dashboard: a loopback caller always; another one with the admin token.</summary>
    internal static bool Allowed(HttpContext context, byte[]? adminHash)
    {
        if (context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote))
        {
            return true;
        }

        if (adminHash is null || context.Request.Headers.Authorization.ToString() is not { Length: > 0 } header)
        {
            return false;
        }

        string? token = null;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = header["Bearer ".Length..].Trim();
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                token = decoded.IndexOf(':') is var colon and >= 0 ? decoded[(colon + 1)..] : null;
            }
            catch (FormatException)
            {
                return false;
            }
        }

        return token is not null && NodeCredentials.Matches(token, adminHash);
    }
}
