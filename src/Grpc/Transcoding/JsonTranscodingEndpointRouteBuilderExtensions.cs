using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Trellis.Grpc.Server;
using Trellis.Grpc.Server.Internal;
using Trellis.Grpc.Transcoding.Internal;

namespace Trellis.Grpc.Transcoding;

/// <summary>Maps the google.api.http rules of a service onto ASP.NET Core endpoints that speak JSON.</summary>
public static class JsonTranscodingEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Adds one endpoint per HTTP binding (the rule and its additional_bindings) of every unary and
    /// server-streaming method that has one. Invalid rules stop start-up with a message naming the method.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcJsonTranscoding(
        this IEndpointRouteBuilder endpoints,
        GrpcServiceDefinition service,
        JsonTranscodingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(service);
        if (service.Descriptor is null)
        {
            throw new InvalidOperationException(
                $"Service '{service.Name}' has no descriptor; build it with new GrpcServiceBuilder(ServiceDescriptor) to transcode it.");
        }

        options ??= new JsonTranscodingOptions();
        var runtime = GrpcEndpointRouteBuilderExtensions.GetRuntime(endpoints);
        var formatter = new JsonFormatter(JsonFormatter.Settings.Default
            .WithFormatDefaultValues(options.FormatDefaultValues)
            .WithTypeRegistry(options.TypeRegistry));
        var builders = new List<IEndpointConventionBuilder>();
        foreach (var method in service.Methods)
        {
            var descriptor = method.Descriptor;
            if (descriptor is null || HttpRules.Get(descriptor) is not { } rule)
            {
                continue;
            }

            if (method.Type is GrpcMethodType.ClientStreaming or GrpcMethodType.DuplexStreaming)
            {
                ServerLog.StreamingMethodNotTranscoded(runtime.Logger, method.FullName, method.Type);
                continue;
            }

            foreach (var (httpMethod, path, binding) in HttpRules.Bindings(rule))
            {
                TranscodedMethod transcoded;
                TranscodingRoute route;
                try
                {
                    route = TranscodingRoute.Create(HttpTemplate.Parse(path));
                    var binder = new JsonRequestBinder(descriptor.InputType, route, binding.Body, options, method.FullName);
                    var responseBody = string.IsNullOrEmpty(binding.ResponseBody)
                        ? null
                        : descriptor.OutputType.FindFieldByName(binding.ResponseBody)
                            ?? throw new InvalidOperationException($"response_body '{binding.ResponseBody}' is not a top-level field of {descriptor.OutputType.FullName}.");
                    transcoded = new TranscodedMethod(method, binder, responseBody, formatter, runtime);
                }
                catch (Exception ex) when (ex is FormatException or InvalidOperationException)
                {
                    throw new InvalidOperationException($"Cannot transcode {method.FullName} ({httpMethod} {path}): {ex.Message}", ex);
                }

                var endpoint = endpoints
                    .Map(route.Pattern, transcoded.HandleAsync)
                    .WithMetadata(new HttpMethodMetadata([httpMethod]))
                    .WithDisplayName($"{httpMethod} {path} → {method.FullName}");
                builders.Add(endpoint);
            }
        }

        return new ConventionBuilders(builders);
    }

    private sealed class ConventionBuilders(List<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
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
