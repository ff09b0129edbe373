using System.Net;
using Grpc.Health.V1;
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
using Trellis.Grpc.Health;
using Trellis.Grpc.Server;
using Trellis.Grpc.Transcoding;
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

/// <summary>Adds the gRPC API (trellis.v1.Nodes, trellis.v1.Messaging, grpc.health.v1) and its listener.</summary>
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

    /// <summary>Registers the gRPC services; call after <c>AddTrellisProxy</c>.</summary>
    public static IServiceCollection AddTrellisGrpc(this IServiceCollection services)
    {
        services.AddGrpcServer();
        services.AddOptions<GrpcServerOptions>().Configure<ProxyOperations>(static (options, operations) => options.MaxReceiveMessageSize = operations.MaxBodyBytes);
        services.AddSingleton<ProxyGrpcService>();
        services.AddSingleton<HealthService>();
        services.AddHostedService<GrpcHealthPublisher>();
        return services;
    }

    /// <summary>Maps the gRPC services and the JSON transcoding of their unary methods under /v1.</summary>
    public static IEndpointRouteBuilder MapTrellisGrpc(this IEndpointRouteBuilder endpoints)
    {
        var service = endpoints.ServiceProvider.GetRequiredService<ProxyGrpcService>();
        endpoints.MapGrpcService(service.Nodes);
        endpoints.MapGrpcService(service.Messaging);
        endpoints.MapGrpcService(endpoints.ServiceProvider.GetRequiredService<HealthService>().Definition);
        var transcoding = new JsonTranscodingOptions { TypeRegistry = ProxyGrpcService.DetailTypes };
        endpoints.MapGrpcJsonTranscoding(service.Nodes, transcoding);
        endpoints.MapGrpcJsonTranscoding(service.Messaging, transcoding);
        return endpoints;
    }

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

/// <summary>Keeps grpc.health.v1 in line with /readyz: SERVING while the process is ready, NOT_SERVING otherwise, for the
/// whole server ("") and each API service; NOT_SERVING for good once the process stops.</summary>
internal sealed partial class GrpcHealthPublisher(HealthService health, IServiceProvider services, TimeProvider time, ILogger<GrpcHealthPublisher> logger) : BackgroundService
{
    private static readonly string[] Services = ["", "trellis.v1.Nodes", "trellis.v1.Messaging"];

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Publish(HealthCheckResponse.Types.ServingStatus.NotServing);
        bool? last = null;
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            do
            {
                bool ready;
                try
                {
                    ready = await HealthEndpoints.IsReadyAsync(services, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    ready = false;
                }

                if (ready != last)
                {
                    last = ready;
                    Publish(ready ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing);
                    LogReadiness(logger, ready ? "SERVING" : "NOT_SERVING");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        health.EnterTerminalState();
        await base.StopAsync(cancellationToken);
    }

    private void Publish(HealthCheckResponse.Types.ServingStatus status)
    {
        foreach (var service in Services)
        {
            health.SetStatus(service, status);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "gRPC health: {Status}")]
    private static partial void LogReadiness(ILogger logger, string status);
}
