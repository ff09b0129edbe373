using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Trellis.Api.Grpc.Internal;
using Trellis.Api.Proxy;
using Trellis.Contracts.V1;
using Trellis.Core.Compositions;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;

namespace Trellis.Api.Grpc;

/// <summary><c>trellis.v1.Messaging</c> (protos/trellis/v1/messaging.proto): requests (with compositions) and signals
/// through the same <see cref="ProxyOperations"/> as <c>POST /request/:id</c> and <c>POST /signal/:id</c>.</summary>
internal sealed class MessagingGrpcService(ProxyOperations operations) : Messaging.MessagingBase
{
    /// <summary>Trailer with the Gilmour code of a request that did not end in 200.</summary>
    public const string CodeTrailer = "trellis-code";

    /// <summary>The types that may appear in error details (for JSON transcoding).</summary>
    public static TypeRegistry DetailTypes { get; } = TypeRegistry.FromFiles(MessagingReflection.Descriptor, NodesReflection.Descriptor);

    public override async Task<PublishResponse> Request(PublishRequest request, ServerCallContext context)
    {
        await operations.AuthorizeAsync(context.GetHttpContext().Request, request.Id);
        var result = await operations.RequestAsync(operations.Parse.Request(request), context.CancellationToken);
        var response = new PublishResponse { Code = result.Code, Length = result.Length };
        foreach (var message in result.Messages)
        {
            response.Messages.Add(new ReplyMessage { Data = ProtoJson.ToValue(message.Data), Code = message.Code });
        }

        if (result.Code == Codes.Ok)
        {
            return response;
        }

        // Not 200: a gRPC error, as POST /request/:id answers with the code as its HTTP status; the replies travel in the
        // details (google.rpc.Status), and the code itself in a trailer.
        var kind = ErrorTable.ForRequestCode(result.Code);
        var detail = $"the request ended with code {result.Code}: {FirstFailure(result)}";
        var details = new Google.Rpc.Status { Code = (int)kind, Message = detail };
        details.Details.Add(Any.Pack(response));
        var trailers = new Metadata
        {
            { CodeTrailer, result.Code.ToString(CultureInfo.InvariantCulture) },
            { "grpc-status-details-bin", details.ToByteArray() },
        };
        throw new RpcException(new Status((StatusCode)(int)kind, detail), trailers);
    }

    public override async Task<SignalResponse> Signal(SignalRequest request, ServerCallContext context)
    {
        await operations.AuthorizeAsync(context.GetHttpContext().Request, request.Id);
        await operations.SignalAsync(operations.Parse.Signal(request), context.CancellationToken);
        return new SignalResponse { Status = "ok" };
    }

    /// <summary>The data of the first reply with the highest code, as text for a status message.</summary>
    private static string FirstFailure(CompositionResult result)
    {
        Message? worst = null;
        foreach (var message in result.Messages)
        {
            if (worst is null || message.Code > worst.Value.Code)
            {
                worst = message;
            }
        }

        if (worst is not { } found)
        {
            return "no reply";
        }

        var element = found.Data.ToJsonElement();
        var text = element.ValueKind == System.Text.Json.JsonValueKind.String ? element.GetString() ?? "" : found.Data.ToString();
        return text.Length <= 500 ? text : string.Concat(text.AsSpan(0, 500), "…");
    }
}
