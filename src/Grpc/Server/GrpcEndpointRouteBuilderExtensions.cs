using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Trellis.Grpc.Server.Internal;

namespace Trellis.Grpc.Server;

/// <summary>Maps gRPC services onto ASP.NET Core endpoints: POST /{package.Service}/{Method}.</summary>
public static class GrpcEndpointRouteBuilderExtensions
{
    // Fallbacks must lose against every other route, including the HTTP API's parameterised ones.
    private const int FallbackOrder = int.MaxValue - 1;

    private static readonly ConditionalWeakTable<IEndpointRouteBuilder, ServerRuntime> Runtimes = [];

    /// <summary>
    /// Maps every method of the service, plus fallbacks so that an unknown method of any service gets
    /// 200 with a trailers-only UNIMPLEMENTED status (clients map a 404 to UNIMPLEMENTED too, but proxies may not).
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService(this IEndpointRouteBuilder endpoints, GrpcServiceDefinition service)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(service);
        var runtime = GetRuntime(endpoints);
        var builders = new List<IEndpointConventionBuilder>();
        foreach (var method in service.Methods)
        {
            var bound = method;
            builders.Add(endpoints
                .MapPost(method.FullName, context => bound.HandleAsync(context, runtime))
                .WithDisplayName("gRPC " + method.FullName)
                .WithMetadata(method));
        }

        var fallback = endpoints
            .MapPost("/" + service.Name + "/{unimplementedMethod}", static context => UnimplementedAsync(context, "Method is unimplemented."))
            .WithDisplayName("gRPC unimplemented method of " + service.Name);
        fallback.Add(static b => ((RouteEndpointBuilder)b).Order = FallbackOrder);
        builders.Add(fallback);
        return new CompositeConventionBuilder(builders);
    }

    /// <summary>Registers <see cref="GrpcServerOptions"/> for every service mapped afterwards.</summary>
    public static IServiceCollection AddGrpcServer(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.Validate(
            static options =>
            {
                options.Validate();
                return true;
            });
        return services;
    }

    internal static ServerRuntime GetRuntime(IEndpointRouteBuilder endpoints)
    {
        lock (Runtimes)
        {
            if (Runtimes.TryGetValue(endpoints, out var existing))
            {
                return existing;
            }

            var provider = endpoints.ServiceProvider;
            var options = provider.GetService<IOptions<GrpcServerOptions>>()?.Value ?? new GrpcServerOptions();
            options.Validate();
            var logger = provider.GetService<ILoggerFactory>()?.CreateLogger("Trellis.Grpc.Server") ?? NullLogger.Instance;
            var runtime = new ServerRuntime(options, logger);
            Runtimes.Add(endpoints, runtime);

            // Once per application: any other POST /{service}/{method} that looks like gRPC is an unknown service.
            endpoints
                .MapPost("/{unimplementedService}/{unimplementedMethod}", static context => UnimplementedAsync(context, "Service is unimplemented."))
                .WithDisplayName("gRPC unimplemented service")
                .Add(static b => ((RouteEndpointBuilder)b).Order = FallbackOrder);
            return runtime;
        }
    }

    private static Task UnimplementedAsync(HttpContext context, string detail)
    {
        // A plain HTTP/1 request that is not gRPC at all is an ordinary unknown route on the REST port.
        if (!ServerProtocol.IsGrpcContentType(context.Request.ContentType) && !HttpProtocol.IsHttp2(context.Request.Protocol))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (ServerProtocol.TryAccept(context))
        {
            ServerProtocol.WriteTrailersOnly(context.Response, new Status(StatusCode.Unimplemented, detail));
        }

        return Task.CompletedTask;
    }

    private sealed class CompositeConventionBuilder(List<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}
