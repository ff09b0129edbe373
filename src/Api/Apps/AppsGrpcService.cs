using System.Globalization;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Grains.Apps;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Api.Apps;

/// <summary>The apps API as the gRPC service <c>trellis.v1.Apps</c> (protos/trellis/v1/apps.proto): the operations of
/// <see cref="AppsApi"/> with protobuf messages, a nack as an error status and a watch as a server stream.</summary>
internal sealed class AppsGrpcService(AppsApi api) : Trellis.Contracts.V1.Apps.AppsBase
{
    /// <summary>The trailer that carries an app's reply code when it nacked.</summary>
    public const string AppCodeTrailer = "trellis-app-code";

    public override Task<AppReply> CreateApp(CreateAppRequest request, ServerCallContext context) => CallAsync(context, async client =>
    {
        var app = AppPath.Validate(request.App);
        var agent = AppAgents.ValidateName(Required(request.Agent, "agent"));
        return await client.CreateAsync(app, agent, ProtoJson.ToElement(request.Init, "init"), Id(request.Id), context.CancellationToken);
    });

    public override Task<AppReply> GetApp(AppRef request, ServerCallContext context) => CallAsync(context, async client =>
    {
        var reply = await client.InfoAsync(AppPath.Validate(request.App), context.CancellationToken);
        return reply.IsOk ? new Message(JsonPayload.From(AppsApi.WithWatchers(reply.Data.ToJsonElement())), reply.Code) : reply;
    });

    public override Task<AppReply> KillApp(AppRef request, ServerCallContext context) => CallAsync(context, client =>
        client.KillAsync(AppPath.Validate(request.App), context.CancellationToken));

    public override Task<AppReply> Poke(PokeRequest request, ServerCallContext context) => CallAsync(context, client =>
    {
        var app = AppPath.Validate(request.App);
        var mark = Required(request.Mark, "mark");
        return client.PokeAsync(app, mark, ProtoJson.ToElement(request.Data, "data") ?? default, Id(request.Id), cancellationToken: context.CancellationToken);
    });

    public override Task<AppReply> Peek(PeekRequest request, ServerCallContext context) => CallAsync(context, client =>
        client.PeekAsync(AppPath.Validate(request.App), request.Path is "" ? "/" : request.Path, context.CancellationToken));

    public override Task<AppReply> Wipe(AppRef request, ServerCallContext context) => CallAsync(context, client =>
        client.WipeAsync(AppPath.Validate(request.App), context.CancellationToken));

    public override Task<AppReply> Leave(LeaveRequest request, ServerCallContext context) => CallAsync(context, async client =>
    {
        var app = AppPath.Validate(request.App);
        var subscriber = AppsApi.ValidateSubscriber(request.Subscriber);
        var path = AppPath.ValidateSubscriptionPath(request.Path is "" ? "/" : request.Path);
        var reply = await client.LeaveAsync(app, path, subscriber, context.CancellationToken);
        await api.EndWatchStreamAsync(subscriber);
        return reply;
    });

    public override Task Watch(WatchRequest request, IServerStreamWriter<WatchEvent> responseStream, ServerCallContext context) =>
        WatchAsync(api, request, responseStream, context);

    private async Task<AppReply> CallAsync(ServerCallContext context, Func<AppClient, Task<Message>> call)
    {
        await api.AuthorizeAsync(context.GetHttpContext());
        var reply = await call(await api.ClientAsync());
        if (!reply.IsOk)
        {
            throw Nack(reply);
        }

        var data = reply.Data.IsNull ? default : reply.Data.ToJsonElement();
        return new AppReply
        {
            Data = ProtoJson.ToValue(reply.Data),
            Created = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.True,
        };
    }

    private static async Task WatchAsync(AppsApi api, WatchRequest request, IServerStreamWriter<WatchEvent> responses, ServerCallContext context)
    {
        await api.AuthorizeAsync(context.GetHttpContext());
        {
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
                    throw Nack(nack.Reply);
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
            result.Data = ProtoJson.ToValue(data);
        }

        return result;
    }

    /// <summary>A nack as a status: the app's own text, its reply code in a trailer, and a gRPC code that says who refused
    /// (<see cref="ErrorTable.ForAppNack"/>).</summary>
    private static RpcException Nack(Message reply)
    {
        var trailers = new Metadata { { AppCodeTrailer, reply.Code.ToString(CultureInfo.InvariantCulture) } };
        return new RpcException(new Status((StatusCode)(int)ErrorTable.ForAppNack(reply.Code), AppsApi.NackText(reply)), trailers);
    }

    private static string Required(string value, string name) =>
        value.Length > 0 ? value : throw TrellisException.Invalid($"'{name}' is required");

    private static string? Id(string id) => id.Length > 0 ? AppsApi.MessageId(id) : null;
}
