using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Trellis.Core.Diagnostics;

namespace Trellis.Hosting.Telemetry;

/// <summary>Completes ASP.NET Core's server span with what it knows only once the request ran: the
/// <c>http.response.status_code</c>, the <c>http.route</c> and the span name <c>{method} {route}</c>, and an error
/// status (with the status code as <c>error.type</c>) from 500 on.</summary>
/// <remarks>ASP.NET Core 10 sets the request's own tags when the span starts (<see
/// cref="TelemetryRegistration.UseNativeAspNetCoreSpans"/>). The tags are set when the response has completed, from a
/// callback Kestrel runs before it stops the span, so the pipeline gets no frame of its own to wait in; an exception that
/// escapes it reaches the span as the 500 it was answered with. A request no tracer samples costs a feature lookup.</remarks>
internal sealed class ServerSpanTags(RequestDelegate next)
{
    private const string StatusCode = "http.response.status_code";
    private const string Route = "http.route";
    private const string ErrorType = "error.type";

    private static readonly HashSet<string> KnownMethods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"];

    private static readonly Func<object, Task> Complete = static state =>
    {
        var context = (HttpContext)state;
        if (context.Features.Get<IHttpActivityFeature>()?.Activity is { IsStopped: false } activity)
        {
            Tag(context, activity);
        }

        return Task.CompletedTask;
    };

    public Task InvokeAsync(HttpContext context)
    {
        // Only ASP.NET Core's span from its activity source, which a tracer sampled: without listeners ASP.NET Core
        // still makes a bare activity of its own for log scopes, which nothing records.
        if (context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true, Source.Name: TelemetryRegistration.AspNetCoreSource })
        {
            context.Response.OnCompleted(Complete, context);
        }

        return next(context);
    }

    private static void Tag(HttpContext context, Activity activity)
    {
        var status = context.Response.StatusCode;
        // ASP.NET Core sets neither tag: AddTag appends, where SetTag would first look through the request's tags.
        activity.AddTag(StatusCode, BusMetrics.CodeTag(status));
        if (status >= 500)
        {
            activity.AddTag(ErrorType, status.ToString(CultureInfo.InvariantCulture));
            activity.SetStatus(ActivityStatusCode.Error);
        }

        if (context.GetEndpoint() is not RouteEndpoint { RoutePattern.RawText: { } route })
        {
            return;
        }

        activity.AddTag(Route, route);
        var method = KnownMethods.Contains(context.Request.Method) ? context.Request.Method : "HTTP";
        activity.DisplayName = TrellisTelemetry.SpanName(method, route);
    }
}
