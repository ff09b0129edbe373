using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Trellis.Core.Diagnostics;

namespace Trellis.Hosting.Telemetry;

/// <summary>Tags ASP.NET Core's server span with the HTTP semantic conventions: the request's tags (<c>http.request.method</c>,
/// <c>url.scheme</c>, <c>url.path</c>, <c>server.address</c>, <c>server.port</c>, <c>user_agent.original</c>) when the
/// request comes in, then what is known only once it ran: the <c>http.response.status_code</c>, the <c>http.route</c> and
/// the span name <c>{method} {route}</c>, and an error status (with the status code as <c>error.type</c>) from 500 on.</summary>
/// <remarks>Only a span a tracer sampled gets them. ASP.NET Core 10 can set the request's tags itself (the
/// <c>Microsoft.AspNetCore.Hosting.SuppressActivityOpenTelemetryData</c> switch), but it then computes them for every
/// request, sampled or not and listened to or not, and hands them to the activity source as a boxed list it enumerates
/// (some 160 B per request). The end tags are set from a callback Kestrel runs once the response has completed, before
/// it stops the span, so the pipeline gets no frame of its own to wait in; an exception that escapes it reaches the span
/// as the 500 it was answered with. A request no tracer samples costs a feature lookup.</remarks>
internal sealed class ServerSpanTags(RequestDelegate next)
{
    private const string Method = "http.request.method";
    private const string MethodOriginal = "http.request.method_original";
    private const string Scheme = "url.scheme";
    private const string Path = "url.path";
    private const string ServerAddress = "server.address";
    private const string ServerPort = "server.port";
    private const string UserAgent = "user_agent.original";
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
        if (context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true, Source.Name: TelemetryRegistration.AspNetCoreSource } activity)
        {
            Start(context.Request, activity);
            context.Response.OnCompleted(Complete, context);
        }

        return next(context);
    }

    /// <summary>The request's own tags. ASP.NET Core sets none of them (its switch is left alone), so AddTag appends.</summary>
    private static void Start(HttpRequest request, Activity activity)
    {
        var method = request.Method;
        if (KnownMethods.Contains(method))
        {
            activity.AddTag(Method, method);
        }
        else
        {
            activity.AddTag(Method, "_OTHER");
            activity.AddTag(MethodOriginal, method);
        }

        var scheme = request.Scheme;
        activity.AddTag(Scheme, scheme);
        activity.AddTag(Path, request.PathBase.HasValue ? (request.PathBase + request.Path).Value : request.Path.Value is { Length: > 0 } path ? path : "/");
        if (request.Host is { HasValue: true } host)
        {
            var server = Servers.Of(host.Value!);
            activity.AddTag(ServerAddress, server.Address);
            var port = server.Port ?? DefaultPort(scheme);
            if (port is not null)
            {
                activity.AddTag(ServerPort, port);
            }
        }

        if (request.Headers.UserAgent is [{ Length: > 0 } agent, ..])
        {
            activity.AddTag(UserAgent, agent);
        }
    }

    private static readonly object Port80 = 80;
    private static readonly object Port443 = 443;

    private static object? DefaultPort(string scheme) =>
        string.Equals(scheme, "https", StringComparison.OrdinalIgnoreCase) ? Port443
        : string.Equals(scheme, "http", StringComparison.OrdinalIgnoreCase) ? Port80
        : null;

    /// <summary>A <c>Host</c> header split into its address and boxed port, kept for the last value seen: a process
    /// answers under one or two names, and Kestrel hands the same string back while a connection's header repeats.</summary>
    private sealed record Servers(string Raw, string Address, object? Port)
    {
        private static Servers _last = new(string.Empty, string.Empty, null);

        public static Servers Of(string raw)
        {
            var last = _last;
            if (string.Equals(last.Raw, raw, StringComparison.Ordinal))
            {
                return last;
            }

            var host = new HostString(raw);
            return _last = new Servers(raw, host.Host, host.Port is { } port ? port : null);
        }
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
