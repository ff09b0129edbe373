using System.Net;
using Grpc.AspNetCore.Server;
using Grpc.AspNetCore.Server.Model;
using Trellis.Api.Grpc.Internal;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Api.Proxy;
using Trellis.Core.Errors;
using Trellis.Hosting.Health;

namespace Trellis.Api.Grpc;

/// <summary>The listeners of a Trellis process: REST/JSON on <c>Trellis:Http:Url</c>, gRPC (h2c) on <c>Trellis:Grpc:Url</c>.
/// After start-up the <see cref="ListenOptions"/> hold the bound endpoints (port 0 resolved).</summary>
public sealed class TrellisListeners
{
    /// <summary>The gRPC listener unless <c>Trellis:Grpc:Url</c> is empty.</summary>
    public const string DefaultGrpcUrl = "http://127.0.0.1:5081";

    internal ListenOptions? Http { get; set; }

    internal ListenOptions? Grpc { get; set; }

    /// <summary>The REST listener's address once bound.</summary>
    public Uri? HttpAddress => Address(Http);

    /// <summary>The gRPC listener's address once bound; null when gRPC is switched off.</summary>
    public Uri? GrpcAddress => Address(Grpc);

    private static Uri? Address(ListenOptions? options) =>
        options?.IPEndPoint is { } ip ? new Uri($"http://{(ip.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip.Address}]" : ip.Address.ToString())}:{ip.Port}") : null;
}

/// <summary>Adds the gRPC API (trellis.v1.Nodes, Messaging and Apps, grpc.health.v1, server reflection) and its listener.</summary>
public static class GrpcApiRegistration
{
    public const string UrlKey = "Trellis:Grpc:Url";

    /// <summary>Configures Kestrel with the HTTP listener and, unless <c>Trellis:Grpc:Url</c> is empty, an HTTP/2-only
    /// gRPC listener; throws naming the key on a bad URL.</summary>
    public static void AddTrellisListeners(this WebApplicationBuilder builder, string httpUrl)
    {
        var grpcUrl = builder.Configuration[UrlKey] ?? TrellisListeners.DefaultGrpcUrl;
        var http = ParseUrl(httpUrl, "Trellis:Http:Url", allowHttps: true);
        var grpc = grpcUrl.Length == 0 ? null : ParseUrl(grpcUrl, UrlKey, allowHttps: false);
        var listeners = new TrellisListeners();
        builder.Services.AddSingleton(listeners);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Without TLS there is no ALPN to choose HTTP/2 by, so the plain-HTTP listener is HTTP/1.1 (Kestrel would only warn
            // and fall back); over https it offers both.
            Listen(kestrel, http, http.Scheme == "https" ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1, o => listeners.Http = o);
            if (grpc is not null)
            {
                // h2c works only with prior knowledge: the gRPC listener speaks HTTP/2 alone (reference/grpc-wire.md §6.2.9).
                Listen(kestrel, grpc, HttpProtocols.Http2, o => listeners.Grpc = o);
            }
        });
    }

    /// <summary>Registers the gRPC services on grpc-dotnet, with JSON transcoding, health and reflection; call after
    /// <c>AddTrellisProxy</c>.</summary>
    public static IServiceCollection AddTrellisGrpc(this IServiceCollection services)
    {
        services.AddSingleton<ErrorInterceptor>();
        services.AddSingleton<MetricsInterceptor>();
        services.AddGrpc(static options =>
        {
            // Outermost, so rpc.server.call.duration carries the status the error interceptor gives the client.
            options.Interceptors.Add<MetricsInterceptor>();
            options.Interceptors.Add<ErrorInterceptor>();
            options.EnableDetailedErrors = false;
            // A message flagged compressed that does not decompress is the client's fault, like one that does not parse.
            options.CompressionProviders = CheckedCompressionProvider.Defaults();
        }).AddJsonTranscoding(static options => options.TypeRegistry = MessagingGrpcService.DetailTypes);
        services.AddOptions<GrpcServiceOptions>().Configure<ProxyOperations>(static (options, operations) => options.MaxReceiveMessageSize = operations.MaxBodyBytes);

        // Requests that cannot be parsed are the client's fault: bind every service through our provider instead of
        // grpc-dotnet's own binder (which would answer UNKNOWN).
        var binder = services.FirstOrDefault(static d => d.ServiceType == typeof(IServiceMethodProvider<>) && d.ImplementationType?.Name == "BinderServiceMethodProvider`1")
            ?? throw new InvalidOperationException("grpc-dotnet's BinderServiceMethodProvider<> was not registered by AddGrpc");
        services.Remove(binder);
        services.AddSingleton(typeof(IServiceMethodProvider<>), typeof(CheckedMessageMethodProvider<>));

        services.AddGrpcReflection();
        // grpc.health.v1 reports the same ASP.NET Core health check as /readyz, for the whole server and each API service.
        services.AddGrpcHealthChecks(static options =>
        {
            foreach (var service in HealthServices)
            {
                options.Services.Map(service, static _ => true);
            }
        }).AddTrellisReadiness();
        services.Configure<HealthCheckPublisherOptions>(static options =>
        {
            options.Delay = TimeSpan.Zero;
            options.Period = TimeSpan.FromSeconds(1);
        });
        return services;
    }

    /// <summary>The services grpc.health.v1 reports on: the whole server ("") and each API service.</summary>
    internal static readonly string[] HealthServices = ["", "trellis.v1.Nodes", "trellis.v1.Messaging", "trellis.v1.Apps", "trellis.v1.Flows", "trellis.v1.Edge"];

    /// <summary>Maps the gRPC services (with the JSON transcoding of their unary methods under /v1), health and reflection.</summary>
    public static IEndpointRouteBuilder MapTrellisGrpc(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<NodesGrpcService>();
        endpoints.MapGrpcService<MessagingGrpcService>();
        endpoints.MapGrpcHealthChecksService();
        endpoints.MapGrpcReflectionService();
        return endpoints;
    }

    /// <summary>Checks the framing of requests on the gRPC listener and reads transcoded bodies as JSON; call before the
    /// endpoints run.</summary>
    public static IApplicationBuilder UseTrellisGrpc(this IApplicationBuilder app) =>
        app.UseMiddleware<GrpcFrameCheck>().UseMiddleware<TranscodedJsonBody>();

    private static void Listen(KestrelServerOptions kestrel, Uri url, HttpProtocols protocols, Action<ListenOptions> bound)
    {
        void Configure(ListenOptions o)
        {
            o.Protocols = protocols;
            if (url.Scheme == "https")
            {
                o.UseHttps();
            }

            bound(o);
        }

        var host = url.Host.Trim('[', ']');
        if (host is "*" or "+" || IPAddress.TryParse(host, out var any) && (any.Equals(IPAddress.Any) || any.Equals(IPAddress.IPv6Any)))
        {
            kestrel.ListenAnyIP(url.Port, Configure);
        }
        else if (IPAddress.TryParse(host, out var address))
        {
            kestrel.Listen(address, url.Port, Configure);
        }
        else
        {
            kestrel.ListenLocalhost(url.Port, Configure);
        }
    }

    private static Uri ParseUrl(string value, string key, bool allowHttps)
    {
        // Uri does not take the wildcard hosts Kestrel accepts; read them as "any address".
        var normalised = value.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalised, UriKind.Absolute, out var uri) || !(uri.Scheme == "http" || (allowHttps && uri.Scheme == "https")))
        {
            throw TrellisException.Invalid(allowHttps
                ? $"{key} must be an http:// or https:// URL (was '{value}')"
                : $"{key} must be an http:// URL such as {TrellisListeners.DefaultGrpcUrl} (gRPC without TLS), or empty to switch gRPC off (was '{value}')");
        }

        var host = uri.Host.Trim('[', ']');
        if (!IPAddress.TryParse(host, out _) && !string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw TrellisException.Invalid($"{key} must name an IP address, localhost or * as its host (was '{value}')");
        }

        if (uri.AbsolutePath is not ("/" or ""))
        {
            throw TrellisException.Invalid($"{key} must not have a path (was '{value}')");
        }

        return uri;
    }
}
