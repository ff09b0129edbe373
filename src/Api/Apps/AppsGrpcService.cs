using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Apps;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Grpc;
using Trellis.Grpc.Server;

namespace Trellis.Api.Apps;

/// <summary>The apps API as the gRPC service <c>trellis.v1.Apps</c> (protos/trellis/v1/apps.proto): the operations of
/// <see cref="AppsApi"/> with protobuf messages, a nack as an error status and a watch as a server stream.</summary>
internal static class AppsGrpcService
{
    /// <summary>The trailer that carries an app's reply code when it nacked.</summary>
    public const string AppCodeTrailer = "trellis-app-code";

    private static readonly ServiceDescriptor Descriptor = AppsReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Apps");
    private static readonly GrpcMethod<CreateAppRequest, AppReply> CreateApp = Method<CreateAppRequest, AppReply>("CreateApp");
    private static readonly GrpcMethod<AppRef, AppReply> GetApp = Method<AppRef, AppReply>("GetApp");
    private static readonly GrpcMethod<AppRef, AppReply> KillApp = Method<AppRef, AppReply>("KillApp");
    private static readonly GrpcMethod<PokeRequest, AppReply> Poke = Method<PokeRequest, AppReply>("Poke");
    private static readonly GrpcMethod<PeekRequest, AppReply> Peek = Method<PeekRequest, AppReply>("Peek");
    private static readonly GrpcMethod<AppRef, AppReply> Wipe = Method<AppRef, AppReply>("Wipe");
    private static readonly GrpcMethod<WatchRequest, WatchEvent> Watch = Method<WatchRequest, WatchEvent>("Watch");
    private static readonly GrpcMethod<LeaveRequest, AppReply> Leave = Method<LeaveRequest, AppReply>("Leave");

    public static GrpcServiceDefinition Create(AppsApi api) => new GrpcServiceBuilder(Descriptor)
        .AddUnary(CreateApp, (request, context) => CallAsync(api, context, async client =>
        {
            var app = AppPath.Validate(request.App);
            var agent = AppAgents.ValidateName(Required(request.Agent, "agent"));
            return await client.CreateAsync(app, agent, Json(request.Init, "init"), Id(request.Id), context.CancellationToken);
        }))
        .AddUnary(GetApp, (request, context) => CallAsync(api, context, async client =>
        {
            var reply = await client.InfoAsync(AppPath.Validate(request.App), context.CancellationToken);
            return reply.IsOk ? new Message(JsonPayload.From(AppsApi.WithWatchers(reply.Data.ToJsonElement())), reply.Code) : reply;
        }))
        .AddUnary(KillApp, (request, context) => CallAsync(api, context, client =>
            client.KillAsync(AppPath.Validate(request.App), context.CancellationToken)))
        .AddUnary(Poke, (request, context) => CallAsync(api, context, client =>
        {
            var app = AppPath.Validate(request.App);
            var mark = Required(request.Mark, "mark");
            return client.PokeAsync(app, mark, Json(request.Data, "data") ?? default, Id(request.Id), cancellationToken: context.CancellationToken);
        }))
        .AddUnary(Peek, (request, context) => CallAsync(api, context, client =>
            client.PeekAsync(AppPath.Validate(request.App), request.Path is "" ? "/" : request.Path, context.CancellationToken)))
        .AddUnary(Wipe, (request, context) => CallAsync(api, context, client =>
            client.WipeAsync(AppPath.Validate(request.App), context.CancellationToken)))
        .AddUnary(Leave, (request, context) => CallAsync(api, context, async client =>
        {
            var app = AppPath.Validate(request.App);
            var subscriber = AppsApi.ValidateSubscriber(request.Subscriber);
            var path = AppPath.ValidateSubscriptionPath(request.Path is "" ? "/" : request.Path);
            var reply = await client.LeaveAsync(app, path, subscriber, context.CancellationToken);
            await api.EndWatchStreamAsync(subscriber);
            return reply;
        }))
        .AddServerStreaming(Watch, (request, responses, context) => WatchAsync(api, request, responses, context))
        .Build();

    private static async Task<AppReply> CallAsync(AppsApi api, ServerCallContext context, Func<AppClient, Task<Message>> call)
    {
        try
        {
            api.Authorize(context.HttpContext);
            var reply = await call(await api.ClientAsync());
            if (!reply.IsOk)
            {
                throw Nack(reply, context);
            }

            var data = reply.Data.IsNull ? default : reply.Data.ToJsonElement();
            return new AppReply
            {
                Data = ProtoJson.ToValue(reply.Data),
                Created = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.True,
            };
        }
        catch (TrellisException e)
        {
            throw GrpcErrors.ToStatus(e, api.Logger, context);
        }
    }

    private static async Task WatchAsync(AppsApi api, WatchRequest request, IServerStreamWriter<WatchEvent> responses, ServerCallContext context)
    {
        try
        {
            api.Authorize(context.HttpContext);
            var app = AppPath.Validate(request.App);
            var path = AppPath.ValidateSubscriptionPath(request.Path is "" ? "/" : request.Path);
            api.ReserveWatch();
            try
            {
                AppWatch watch;
                try
                {
                    watch = await (await api.ClientAsync()).WatchAsync(app, path, context.CancellationToken);
                }
                catch (AppNackException nack)
                {
                    throw Nack(nack.Reply, context);
                }

                await using (watch)
                {
                    await api.StreamWatchAsync(watch, context.CancellationToken, async token =>
                    {
                        try
                        {
                            await foreach (var e in watch.Events.ReadAllAsync(token))
                            {
                                await responses.WriteAsync(Event(e, watch.Subscriber), token);
                            }
                        }
                        catch (OperationCanceledException) when (token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
                        {
                            // Left through Leave: the stream ends with OK.
                        }
                    });
                }
            }
            finally
            {
                api.ReleaseWatch();
            }
        }
        catch (TrellisException e)
        {
            throw GrpcErrors.ToStatus(e, api.Logger, context);
        }
    }

    private static WatchEvent Event(AppWatchEvent e, string subscriber)
    {
        var result = new WatchEvent
        {
            Kind = e.Kind switch
            {
                "watch-ack" => WatchEvent.Types.Kind.WatchAck,
                "fact" => WatchEvent.Types.Kind.Fact,
                "kick" => WatchEvent.Types.Kind.Kick,
                _ => WatchEvent.Types.Kind.Unspecified,
            },
            App = e.App,
            Path = e.Path,
        };
        if (e.Kind == "watch-ack")
        {
            result.Subscriber = subscriber;
        }

        if (e.Data is { } data)
        {
            result.Data = ProtoJson.ToValue(JsonPayload.From(data));
        }

        return result;
    }

    /// <summary>A nack as a status: the app's own text, its reply code in a trailer, and a gRPC code that says who refused.</summary>
    private static GrpcException Nack(Message reply, ServerCallContext context)
    {
        var code = reply.Code switch
        {
            Codes.NotFound => StatusCode.NotFound,
            Codes.RequestTimeout or Codes.HandlerTimeout => StatusCode.DeadlineExceeded,
            Codes.QueueFull => StatusCode.Unavailable,
            401 => StatusCode.Unauthenticated,
            403 => StatusCode.PermissionDenied,
            413 => StatusCode.ResourceExhausted,
            >= 400 and < 500 => StatusCode.FailedPrecondition,
            _ => StatusCode.Unavailable,
        };
        var trailers = new Metadata { { AppCodeTrailer, reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture) } };
        return new GrpcException(code, AppsApi.NackText(reply), trailers);
    }

    private static string Required(string value, string name) =>
        value.Length > 0 ? value : throw TrellisException.Invalid($"'{name}' is required");

    private static string? Id(string id) => id.Length > 0 ? AppsApi.MessageId(id) : null;

    /// <summary>A request's optional JSON value: unset (or a Value with no kind) is absent.</summary>
    private static JsonElement? Json(Value? value, string field) =>
        value is null || value.KindCase == Value.KindOneofCase.None ? null : ProtoJson.ToPayload(value, field).ToJsonElement();

    private static GrpcMethod<TRequest, TResponse> Method<TRequest, TResponse>(string name)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        GrpcMethod<TRequest, TResponse>.FromDescriptor(Descriptor.FindMethodByName(name));
}
