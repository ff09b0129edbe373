using Microsoft.AspNetCore.Http;
using Trellis.Api.Operator.Internal;
using Trellis.Api.Errors;
using Trellis.Api.Proxy;
using Trellis.Api.Proxy.Internal;

namespace Trellis.Api.Operator;

/// <summary><c>POST /cluster/request</c> and <c>POST /cluster/signal</c>: the bodies and answers of <c>POST /request/:id</c>
/// and <c>POST /signal/:id</c>, published on behalf of the cluster instead of a registered node (the <c>trellis</c> CLI's
/// request, compose and signal), for the admin token, or loopback callers when there is none.</summary>
internal sealed class ClusterPublishing(ProxyOperations operations, OperatorAccess access)
{
    /// <summary><c>{topic | composition, message?, timeout?}</c> → <c>{messages: [{data, code}], code, length}</c>, HTTP status = code.</summary>
    public async Task RequestAsync(HttpContext context)
    {
        access.Check(context, "POST /cluster/request");
        Core.Compositions.CompositionResult result;
        using (var body = await RequestBodies.ReadObjectAsync(context, operations.MaxBodyBytes))
        {
            result = await operations.RequestAsync(body.RootElement, context.RequestAborted);
        }

        var code = result.Code;
        await HttpExchange.WriteAsync(context, code is >= 100 and <= 599 ? code : StatusCodes.Status500InternalServerError, w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("messages");
            foreach (var message in result.Messages)
            {
                w.WriteStartObject();
                w.WritePropertyName("data");
                message.Data.WriteTo(w);
                w.WriteNumber("code", message.Code);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteNumber("code", code);
            w.WriteNumber("length", result.Length);
            w.WriteEndObject();
        });
    }

    /// <summary><c>{topic, message?}</c> → <c>{status: "ok"}</c>; 503 when a slot's queue is full.</summary>
    public async Task SignalAsync(HttpContext context)
    {
        access.Check(context, "POST /cluster/signal");
        using (var body = await RequestBodies.ReadObjectAsync(context, operations.MaxBodyBytes))
        {
            await operations.SignalAsync(body.RootElement, context.RequestAborted);
        }

        await HttpExchange.WriteAsync(context, StatusCodes.Status200OK, static w =>
        {
            w.WriteStartObject();
            w.WriteString("status", "ok");
            w.WriteEndObject();
        });
    }
}
